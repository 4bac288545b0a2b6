/* The public header compiles as strict C99, and the library links from C. */
#include "rwkvrt.h"

#include <stdio.h>
#include <string.h>

int main(void) {
    rwkvrt_model *model = NULL;
    rwkvrt_status st = rwkvrt_model_load("/nonexistent/model.pth", NULL, &model);
    if (st != RWKVRT_ERR_IO || model != NULL || strlen(rwkvrt_last_error()) == 0) {
        fprintf(stderr, "unexpected: %s %s\n", rwkvrt_status_name(st), rwkvrt_last_error());
        return 1;
    }
    printf("rwkvrt %s from C99: %s\n", rwkvrt_version(), rwkvrt_last_error());
    return 0;
}
