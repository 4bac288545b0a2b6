// rwkvrt serve: the OpenAI-compatible server of tools/server (docs/SERVING.md).
#include "cli/common.h"
#include "server/server.h"

namespace rwkvrt_cli {

void add_serve(CLI::App &app, Commands &out) {
    auto o = std::make_shared<rwkvrt_server::ServeOptions>();
    CLI::App *cmd = app.add_subcommand("serve", "Serve the model over HTTP with the OpenAI API (docs/SERVING.md)");
    cmd->add_option("-m,--model", o->model_path, "Model file")->required();
    cmd->add_option("-t,--tokenizer", o->tokenizer_path, "Tokenizer file (default: the one the model file carries (GGUF), or bytes for 256-token models)");
    cmd->add_option("--threads", o->threads, "Threads of the forward pass (0 = one per core)")->capture_default_str();
    cmd->add_option("--weight-type", o->weight_type, "Convert the large matrices: f32, f16, bf16, q8_0");
    add_activations_option(cmd, o->activations);
    cmd->add_option("--host", o->host, "Address to listen on")->capture_default_str();
    cmd->add_option("--port", o->port, "Port (0 = any free port, printed)")->capture_default_str();
    cmd->add_option("--alias", o->model_name, "The model's id in the API (default: the file's name)");
    cmd->add_option("--api-key", o->api_key, "Require 'Authorization: Bearer KEY' on /v1/");
    cmd->add_option("--parallel", o->parallel, "Sequences decoded together")->capture_default_str();
    cmd->add_option("--queue", o->queue, "Requests that may wait beyond those; more get 429")->capture_default_str();
    cmd->add_option("--step-rows", o->step_rows, "Tokens fed per step, prompts included (<= 256)")->capture_default_str();
    cmd->add_option("--max-tokens", o->max_tokens, "Largest max_tokens a request may ask for")->capture_default_str();
    cmd->add_option("--max-body", o->max_body_bytes, "Largest request body in bytes")->capture_default_str();
    cmd->add_option("--max-stop", o->max_stop, "Most stop strings per request")->capture_default_str();
    cmd->add_option("--think", o->think, "Default of the request field 'think' (G1 models)")
        ->check(CLI::IsMember({"unset", "on", "off"}))
        ->capture_default_str();
    cmd->add_option("--state-store", o->state_store, "Conversations: memory, a folder, or redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]")->capture_default_str();
    cmd->add_option("--session-ram-mb", o->session_ram_mb, "RAM for conversations (memory and folder stores)")->capture_default_str();
    cmd->add_option("--cache-mb", o->cache_mb, "RAM for the prefix-state cache (0 = none)")->capture_default_str();
    cmd->add_option("--cache-dir", o->cache_dir, "Folder that keeps the prefix-state cache across restarts");
    cmd->add_flag("--log-requests,!--no-log-requests", o->log_requests,
                  "One line per request on stderr: client, method, path, status, time (never the content)")
        ->capture_default_str();
    out.push_back({cmd, [o] { return rwkvrt_server::serve(*o); }});
}

} // namespace rwkvrt_cli
