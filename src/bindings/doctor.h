/* nurs.doctor(): the kernel-settings checks of nurs-lua --doctor. */
#ifndef NURS_BINDINGS_DOCTOR_H
#define NURS_BINDINGS_DOCTOR_H

#include <lua.h>

/* Adds nurs.doctor to the module table on top of the stack. */
void nurs_l_doctor_open(lua_State *L);

#endif
