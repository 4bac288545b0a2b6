/* A program of a user of the installed library: includes the installed header, links the installed
 * librwkvrt, and checks that the library it runs with is the version it was compiled against. */
#include <stdio.h>
#include <string.h>

#include <rwkvrt.h>

int main(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", RWKVRT_VERSION_MAJOR, RWKVRT_VERSION_MINOR, RWKVRT_VERSION_PATCH);
    if (strcmp(rwkvrt_version(), expected) != 0) {
        fprintf(stderr, "header %s, library %s\n", expected, rwkvrt_version());
        return 1;
    }
    printf("consumer: rwkvrt %s\n", rwkvrt_version());
    return 0;
}
