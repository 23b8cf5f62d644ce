/* lua_script.c - an embedded Lua 5.4 interpreter (Debian's static liblua5.4) running a script
 * with tables, closures, coroutines, string patterns, integer and float arithmetic (printed with
 * %.17g), sorting and the garbage collector; output compared with the native run.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>

static const char *script =
    "local t = {}\n"
    "for i = 1, 5000 do t[i] = (i * 7919) % 10007 end\n"
    "table.sort(t)\n"
    "print('sorted', t[1], t[2500], t[5000])\n"
    "local function counter() local n = 0 return function() n = n + 1 return n end end\n"
    "local c = counter() c() c() print('closure', c())\n"
    "local co = coroutine.wrap(function(a) for i = 1, 3 do a = a + coroutine.yield(a * i) end return a end)\n"
    "print('coroutine', co(1), co(2), co(3), co(4))\n"
    "local words = {} for w in ('guard page tlb flush marker'):gmatch('%a+') do words[#words + 1] = w:upper() end\n"
    "print('patterns', table.concat(words, ','), ('mmuemu'):rep(3, '-'), ('x=10, y=20'):gsub('%d+', function(d) return d * 2 end))\n"
    "print('floats', string.format('%.17g %.17g %.17g', 1 / 3, math.sqrt(2), math.pi * 1e10))\n"
    "print('integers', 2^53, math.maxinteger, 7 // 2, -7 // 2, 7 % -3, 1 << 62)\n"
    "local big = {} for i = 1, 50000 do big[i] = {i} end big = nil collectgarbage()\n"
    "print('gc', collectgarbage('count') < 1024)\n"
    "local s = 0 for i = 1, 100000 do s = s + i % 7 end print('loop', s)\n";

int main(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_dostring(L, script) != LUA_OK) {
        printf("error: %s\n", lua_tostring(L, -1));
        return 1;
    }
    lua_close(L);
    return 0;
}
