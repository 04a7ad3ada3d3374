/* lterr.c - descriptions of the LT_E* codes (see lterr.h). */
#include "lterr.h"

const char *lt_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define LT_ERR_CASE(name, c, text)                                                                 \
    case c:                                                                                        \
        return text;
        LT_ERRORS(LT_ERR_CASE)
#undef LT_ERR_CASE
    }
    return "unknown error";
}
