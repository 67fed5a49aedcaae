#include "records/record.h"

const char nurs_record_expired_msg[] =
    "record used after its callback; call :totable() to keep it";

void nurs_record_emit(const struct nurs_record_class *cls, const void *data,
                      const struct nurs_emit *e, void *ctx)
{
    _Alignas(max_align_t) unsigned char state[NURS_RECORD_STATE_MAX] = {0};
    const struct nurs_field_src src = {.data = data, .state = state};
    cls->emit_all(&src, e, ctx);
}
