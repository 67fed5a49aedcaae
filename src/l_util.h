/* Small helpers shared by the Lua bindings. */
#ifndef NURS_L_UTIL_H
#define NURS_L_UTIL_H

#include <stdbool.h>

#include <lua.h>

/* Raises an error naming the first key of the table at idx that is not in
 * `allowed` (NULL-terminated): a typo in an option must not pass unseen. */
void nurs_check_options(lua_State *L, int idx, const char *fname, const char *const *allowed);
/* Option readers: the field of the options table at idx, or the default. */
bool nurs_opt_bool(lua_State *L, int idx, const char *fname, const char *key, bool def);
lua_Integer nurs_opt_int(lua_State *L, int idx, const char *fname, const char *key,
                         lua_Integer def, lua_Integer min, lua_Integer max);
lua_Number nurs_opt_number(lua_State *L, int idx, const char *fname, const char *key,
                           lua_Number def, lua_Number min, lua_Number max);
/* The string stays valid while the options table is on the stack. */
const char *nurs_opt_string(lua_State *L, int idx, const char *fname, const char *key,
                            const char *def);

#endif
