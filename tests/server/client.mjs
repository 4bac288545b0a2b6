// Drives rwkvrt serve with the official OpenAI client. Usage: node client.mjs MODE BASE_URL [ARGS...]
//   basic                 chat and completions, streaming and not, stop strings, seeds, usage, errors
//   concurrent N TOKENS   N streaming clients at once, each compared with the same request served alone
//   turn STATE MESSAGE SEED [stream]   one turn of a conversation kept in the JSON file STATE; behind a
//                         load balancer (RWKVRT_BALANCED=1) the tokens fed are not counted: /metrics is per worker
//   history TURNS         a conversation resent whole each turn (no session): prompt and cached tokens
//   cut                   a reply cut inside a character (max_tokens) comes back with U+FFFD; the whole
//                         history resent with it continues the conversation
//   retry REF             the conversation of REF (a file of 'turn' mode, seeds 11, 12, ...), each turn sent
//                         twice under one Idempotency-Key: the second is the stored answer, and the
//                         conversation ends as REF's did
// Exits non-zero, naming the check, when one fails.
import OpenAI from 'openai';
import fs from 'node:fs';

const [mode, base, ...args] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + '/v1', apiKey: process.env.RWKVRT_API_KEY || 'none', maxRetries: 0 });
const models = mode === 'turn' ? null : await client.models.list();
const model = models ? models.data[0].id : undefined;

function check(ok, what) {
  if (!ok) {
    console.error('FAIL: ' + what);
    process.exit(1);
  }
}

function chat(params, options) {
  return client.chat.completions.create({ model, ...params }, options);
}

// Streams a chat request; returns its text, finish reason, usage and the time to its first token.
async function streamChat(params, options) {
  const t0 = performance.now();
  const stream = await chat({ ...params, stream: true, stream_options: { include_usage: true } }, options);
  let text = '', finish = null, usage = null, ttft = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta?.content) {
        if (ttft === null) ttft = (performance.now() - t0) / 1000;
        text += c.delta.content;
      }
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text, finish, usage, ttft };
}

async function metric(name) {
  const text = await (await fetch(base + '/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  check(line, 'metric ' + name);
  return Number(line.split(' ')[1]);
}

async function expectError(promise, status, what) {
  try {
    await promise;
  } catch (e) {
    check(e.status === status, `${what}: status ${e.status}, expected ${status}`);
    check(typeof e.error?.message === 'string' || typeof e.message === 'string', what + ': an error message');
    return;
  }
  check(false, what + ': no error');
}

const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];

if (mode === 'basic') {
  check(models.data.length === 1 && models.data[0].object === 'model', 'models.list');
  const ask = { messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Name a colour.' }], max_tokens: 24, seed: 7 };
  const a = await chat(ask);
  const text = a.choices[0].message.content;
  check(a.object === 'chat.completion' && a.choices.length === 1 && a.choices[0].message.role === 'assistant', 'chat shape');
  check(['stop', 'length'].includes(a.choices[0].finish_reason), 'finish_reason');
  const u = a.usage;
  check(u.prompt_tokens > 0 && u.total_tokens === u.prompt_tokens + u.completion_tokens, 'usage sums');
  check(u.completion_tokens >= 1 && u.completion_tokens <= 24, 'completion tokens within max_tokens');
  check(a.choices[0].finish_reason !== 'length' || u.completion_tokens === 24, 'length means max_tokens tokens');
  check(Number.isInteger(u.prompt_tokens_details?.cached_tokens), 'cached_tokens reported');

  const again = await chat(ask);
  check(again.choices[0].message.content === text, 'the same seed gives the same text');
  check(again.usage.prompt_tokens_details.cached_tokens > 0, 'a repeated prompt is served by the prefix cache');
  const other = await chat({ ...ask, seed: 8 });
  check(other.choices[0].message.content !== text, 'another seed gives another text');
  const s = await streamChat(ask);
  check(s.text === text && s.finish === a.choices[0].finish_reason, 'streaming gives the same text and finish as not streaming');
  check(s.usage && s.usage.completion_tokens === u.completion_tokens && s.usage.prompt_tokens === u.prompt_tokens, 'streamed usage');

  // A stop string taken from the middle of the text: the reply ends just before it.
  check(text.length >= 8, 'a text long enough to cut: ' + JSON.stringify(text));
  const cut = Math.floor(text.length / 2), stop = text.slice(cut, cut + 3);
  const stopped = await chat({ ...ask, stop: [stop, 'never-generated-zzz'] });
  check(stopped.choices[0].message.content === text.slice(0, text.indexOf(stop)), 'stop string cuts the reply');
  check(stopped.choices[0].finish_reason === 'stop', 'stop string gives finish_reason stop');
  const stoppedStream = await streamChat({ ...ask, stop });
  check(stoppedStream.text === text.slice(0, text.indexOf(stop)), 'stop string cuts the streamed reply');

  const c = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 12, seed: 3 });
  check(c.object === 'text_completion' && c.choices[0].text.length > 0, 'completion');
  check(c.usage.completion_tokens <= 12 && c.usage.prompt_tokens > 0, 'completion usage');
  const cs = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 12, seed: 3, stream: true });
  let ctext = '';
  for await (const chunk of cs) ctext += chunk.choices[0]?.text ?? '';
  check(ctext === c.choices[0].text, 'streamed completion equals the whole one');

  await expectError(chat({ ...ask, model: 'no-such-model' }), 404, 'unknown model');
  await expectError(chat({ ...ask, max_tokens: 0 }), 400, 'max_tokens 0');
  await expectError(chat({ ...ask, temperature: 'hot' }), 400, 'temperature of the wrong type');
  await expectError(chat(ask, { headers: { 'X-Session-Id': 'sess_00000000000000000000000000000000' } }), 404, 'unknown session');
  console.log('basic: all checks passed');
} else if (mode === 'concurrent') {
  const n = Number(args[0]), tokens = Number(args[1]);
  const requests = Array.from({ length: n }, (_, i) => ({
    messages: [{ role: 'user', content: `Request ${i}: tell me about the number ${i * 7}.` }],
    max_tokens: tokens,
    seed: 1000 + i,
    temperature: 1,
    top_p: 0.9,
  }));
  const steps0 = await metric('rwkvrt_step_sequences_sum'), count0 = await metric('rwkvrt_step_sequences_count');
  const t0 = performance.now();
  const together = await Promise.all(requests.map((r) => streamChat(r)));
  const wall = (performance.now() - t0) / 1000;
  const meanBatch = ((await metric('rwkvrt_step_sequences_sum')) - steps0) / ((await metric('rwkvrt_step_sequences_count')) - count0);
  const generated = together.reduce((s, r) => s + r.usage.completion_tokens, 0);
  for (const [i, r] of together.entries()) check(r.finish && r.usage && r.text.length > 0, `client ${i} completed`);
  for (const [i, r] of requests.entries()) {
    const alone = await streamChat(r);
    check(alone.text === together[i].text && alone.usage.completion_tokens === together[i].usage.completion_tokens,
          `client ${i}: the batched reply equals the same request served alone`);
  }
  check(meanBatch > 2, 'requests were batched (mean sequences per step ' + meanBatch + ')');
  const ttfts = together.map((r) => r.ttft);
  console.log(JSON.stringify({ clients: n, generated, wall_s: +wall.toFixed(3), aggregate_tok_s: +(generated / wall).toFixed(1),
                               ttft_p50_s: +percentile(ttfts, 50).toFixed(3), ttft_p99_s: +percentile(ttfts, 99).toFixed(3),
                               mean_sequences_per_step: +meanBatch.toFixed(2) }));
} else if (mode === 'turn') {
  const [file, message, seed, streamed] = args;
  const st = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : { session: null, transcript: [], turns: [] };
  const counted = !process.env.RWKVRT_BALANCED;
  const fed0 = counted ? await metric('rwkvrt_prompt_tokens_fed_total') : 0;
  const params = { messages: [{ role: 'user', content: message }], max_tokens: 16, seed: Number(seed) };
  const headers = { 'X-Session-Id': st.session ?? 'new' };
  let reply, usage, response;
  if (streamed === 'stream') {
    const r = await chat({ ...params, stream: true, stream_options: { include_usage: true } }, { headers }).withResponse();
    response = r.response;
    reply = '';
    for await (const chunk of r.data) {
      if (chunk.usage) usage = chunk.usage;
      reply += chunk.choices[0]?.delta?.content ?? '';
    }
  } else {
    const r = await chat(params, { headers }).withResponse();
    response = r.response;
    reply = r.data.choices[0].message.content;
    usage = r.data.usage;
  }
  const fed = counted ? (await metric('rwkvrt_prompt_tokens_fed_total')) - fed0 : null;
  st.session = response.headers.get('x-session-id');
  check(st.session && st.session.startsWith('sess_'), 'a session id');
  st.transcript.push(message, reply);
  st.turns.push({ worker: response.headers.get('x-rwkvrt-worker'), prompt_tokens: usage.prompt_tokens, fed });
  fs.writeFileSync(file, JSON.stringify(st, null, 1));
  console.log(JSON.stringify(st.turns.at(-1)));
} else if (mode === 'history') {
  const turns = Number(args[0]);
  const messages = [{ role: 'system', content: 'You are a helpful assistant who answers briefly and kindly.' }];
  const rows = [];
  for (let t = 0; t < turns; ++t) {
    messages.push({ role: 'user', content: `Question ${t + 1}: what comes after ${t * 3}?` });
    const r = await chat({ messages, max_tokens: 16, seed: 50 + t });
    messages.push({ role: 'assistant', content: r.choices[0].message.content });
    rows.push({ turn: t + 1, prompt_tokens: r.usage.prompt_tokens, cached_tokens: r.usage.prompt_tokens_details.cached_tokens,
                fed: r.usage.prompt_tokens - r.usage.prompt_tokens_details.cached_tokens });
  }
  if (args[1] === 'cached')
    for (let t = 1; t < rows.length; ++t)
      check(rows[t].cached_tokens >= rows[t - 1].prompt_tokens - 1, `turn ${t + 1}: the previous prompt came from the cache`);
  console.log(JSON.stringify(rows));
} else if (mode === 'cut') {
  const question = { role: 'user', content: 'Tell me' };
  let found = false;
  for (let seed = 1; seed <= 60 && !found; ++seed) {
    const r = await chat({ messages: [question], max_tokens: 12, seed }, { headers: { 'X-Session-Id': 'new' } }).withResponse();
    const reply = r.data.choices[0].message.content;
    if (!reply.includes('\uFFFD')) continue;
    found = true;
    const session = r.response.headers.get('x-session-id');
    const next = await chat({ messages: [question, { role: 'assistant', content: reply }, { role: 'user', content: 'More' }], max_tokens: 2 },
                            { headers: { 'X-Session-Id': session } });
    check(next.choices.length === 1, `seed ${seed}: the history resent with its U+FFFD continued the conversation`);
    console.log(JSON.stringify({ seed, reply }));
  }
  check(found, 'no seed of 1-60 cut a character: nothing was tested');
} else if (mode === 'retry') {
  const ref = JSON.parse(fs.readFileSync(args[0], 'utf8'));
  const users = ref.transcript.filter((_, i) => i % 2 === 0);
  let session = 'new';
  const transcript = [];
  for (const [t, message] of users.entries()) {
    const params = { messages: [{ role: 'user', content: message }], max_tokens: 16, seed: 11 + t };
    const headers = { 'X-Session-Id': session, 'Idempotency-Key': `turn-${t}-of-${session}` };
    const first = await chat(params, { headers }).withResponse();
    check(first.response.headers.get('idempotent-replayed') === null, `turn ${t}: the first request was generated`);
    session = first.response.headers.get('x-session-id');
    if (t > 0) { // a new conversation's id comes with its first answer: there is no stored turn to ask again before it
      const generated0 = await metric('rwkvrt_completion_tokens_total'), replayed0 = await metric('rwkvrt_turns_replayed_total');
      const same = { ...headers, 'X-Session-Id': session };
      const asked = t % 2 ? { ...params, stream: true, stream_options: { include_usage: true } } : params;
      const again = await chat(asked, { headers: same }).withResponse();
      check(again.response.headers.get('idempotent-replayed') === 'true', `turn ${t}: the retry was answered from the store`);
      let text = '', finish = null, usage = null, id = null;
      if (t % 2) {
        for await (const chunk of again.data) {
          id = chunk.id;
          if (chunk.usage) usage = chunk.usage;
          for (const c of chunk.choices) {
            text += c.delta?.content ?? '';
            if (c.finish_reason) finish = c.finish_reason;
          }
        }
      } else {
        ({ id, usage } = again.data);
        text = again.data.choices[0].message.content;
        finish = again.data.choices[0].finish_reason;
      }
      const f = first.data;
      check(id === f.id && text === f.choices[0].message.content && finish === f.choices[0].finish_reason, `turn ${t}: the retry gave the first answer`);
      check(JSON.stringify(usage) === JSON.stringify(f.usage), `turn ${t}: the retry gave the first answer's usage`);
      check((await metric('rwkvrt_completion_tokens_total')) === generated0, `turn ${t}: the retry generated nothing`);
      check((await metric('rwkvrt_turns_replayed_total')) === replayed0 + 1, `turn ${t}: the retry was counted`);
      await expectError(chat({ ...params, seed: 99 }, { headers: same }), 422, `turn ${t}: the key with another request`);
    }
    transcript.push(message, first.data.choices[0].message.content);
  }
  check(JSON.stringify(transcript) === JSON.stringify(ref.transcript), 'the conversation with retries ended as the one without');
  console.log(JSON.stringify({ turns: users.length, retried: users.length - 1 }));
} else {
  check(false, 'unknown mode ' + mode);
}
