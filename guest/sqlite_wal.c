/* sqlite_wal.c - an on-disk SQLite database in WAL mode (issue 9): POSIX record locks on the
 * database and its -shm file, the -shm index mapped MAP_SHARED by two processes.
 *
 * Steps (output compared with the host kernel): create the database in the current directory,
 * switch to WAL, insert rows in transactions, aggregate; a second connection reads; then a
 * forked child writes while the parent holds a read transaction (snapshot isolation: the parent
 * keeps its count until it ends the transaction) and reads the child's rows afterwards.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *db_path = "sqlite_wal.db";

static void check(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        printf("%s: error %d: %s\n", what, rc, sqlite3_errmsg(db));
        fflush(stdout);
        exit(1);
    }
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        printf("exec '%s': %s\n", sql, msg ? msg : "?");
        fflush(stdout);
        exit(1);
    }
}

static int print_row(void *label, int n, char **values, char **names)
{
    printf("%s:", (const char *)label);
    for (int i = 0; i < n; ++i)
        printf(" %s=%s", names[i], values[i] ? values[i] : "NULL");
    printf("\n");
    return 0;
}

static void query(sqlite3 *db, const char *label, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, print_row, (void *)label, &msg) != SQLITE_OK) {
        printf("%s: %s\n", label, msg ? msg : "?");
        exit(1);
    }
    fflush(stdout);
}

static sqlite3 *open_db(void)
{
    sqlite3 *db;
    check(NULL, sqlite3_open(db_path, &db), "open");
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static void insert_rows(sqlite3 *db, int first, int count, const char *tag)
{
    sqlite3_stmt *st;
    exec(db, "BEGIN");
    check(db, sqlite3_prepare_v2(db, "INSERT INTO t(id, tag, v) VALUES (?, ?, ?)", -1, &st, NULL), "prepare");
    for (int i = first; i < first + count; ++i) {
        sqlite3_bind_int(st, 1, i);
        sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, (i * 37) % 101);
        check(db, sqlite3_step(st), "insert");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    exec(db, "COMMIT");
}

static void child_writer(int go, int done)
{
    char c;
    if (read(go, &c, 1) != 1)
        _exit(2);
    sqlite3 *db = open_db();
    insert_rows(db, 1000, 250, "child");
    query(db, "child sees", "SELECT count(*) AS n, sum(v) AS s FROM t");
    sqlite3_close(db);
    c = 1;
    write(done, &c, 1);
    _exit(0);
}

int main(void)
{
    unlink(db_path);
    sqlite3 *db = open_db();
    query(db, "journal_mode", "PRAGMA journal_mode=WAL");
    exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, tag TEXT, v INTEGER)");
    for (int batch = 0; batch < 4; ++batch)
        insert_rows(db, batch * 100, 100, batch % 2 ? "odd" : "even");
    query(db, "aggregate", "SELECT tag, count(*) AS n, sum(v) AS s, min(v) AS lo, max(v) AS hi FROM t GROUP BY tag ORDER BY tag");

    sqlite3 *second = open_db();
    query(second, "second connection", "SELECT count(*) AS n, avg(v) AS mean FROM t WHERE v > 50");
    sqlite3_close(second);
    sqlite3_close(db);

    int go[2], done[2];
    pipe(go);
    pipe(done);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        child_writer(go[0], done[1]);
    db = open_db();
    exec(db, "BEGIN");
    query(db, "parent snapshot before", "SELECT count(*) AS n FROM t");
    char c = 1;
    write(go[1], &c, 1);
    read(done[0], &c, 1);
    query(db, "parent snapshot after the child's commit", "SELECT count(*) AS n FROM t");
    exec(db, "COMMIT");
    query(db, "parent new read", "SELECT tag, count(*) AS n FROM t GROUP BY tag ORDER BY tag");
    int st;
    waitpid(pid, &st, 0);
    printf("child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    query(db, "integrity", "PRAGMA integrity_check");
    sqlite3_close(db);
    unlink(db_path);
    return 0;
}
