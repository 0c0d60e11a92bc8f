
/*
 * What nginx's pool code calls that the fuzz targets do not bring: logging.
 */


#include "../ngx_http_sse_module.h"


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    (void) level;
    (void) log;
    (void) err;
    (void) fmt;
}


/* ngx_sort() of nginx's string code names it; the targets never sort */
volatile ngx_cycle_t  *ngx_cycle;
