/* The kvstore server, running in ring 3. One request per line on the serial port:
 *     <client-id> <request-id> <COMMAND> [args]
 * COMMAND is PUT key value | GET key | DEL key | INCR key | STATS. Each reply is one line that
 * starts with "<client-id> <request-id> ", then OK, VALUE v, NOTFOUND, ERR <why>, or
 * STATS keys=N requests=N uptime_ticks=N tsc=N.
 *
 * At most once: per client id the server keeps the last request id and its reply. A request
 * id equal to the last one gets the stored reply again, a smaller one gets "ERR stale"; only a
 * larger one (or a client's first request) is executed. A line that does not even carry two
 * ids gets "ERR malformed" with no ids. The bare line SHUTDOWN ends the machine. */
#include "types.h"
#include "fmt.h"
#include "syscall.h"

void server_main(void);

#define LINE_MAX 512
#define KEY_MAX 64        /* bytes, without the terminating NUL */
#define VALUE_MAX 256
#define CLIENT_ID_MAX 32
#define REPLY_MAX (CLIENT_ID_MAX + 1 + 20 + 1 + 6 + VALUE_MAX + 2)
#define SLOTS 1024        /* power of two; linear probing */
#define MAX_KEYS 768      /* keep the table at most 3/4 full so probes stay short */
#define MAX_CLIENTS 64

/* The ring-3 stack; the kernel starts the server at its top. */
u8 server_stack[SERVER_STACK_SIZE] __attribute__((aligned(16)));

struct slot { u8 used; char key[KEY_MAX + 1]; char value[VALUE_MAX + 1]; };
struct client {
    u8 used;
    char id[CLIENT_ID_MAX + 1];
    u64 last_request;
    u64 last_use;          /* for evicting the least recently seen client when full */
    u32 reply_len;
    char reply[REPLY_MAX];
};

static struct slot slots[SLOTS];
static u32 key_count;
static u64 requests_executed;
static struct client clients[MAX_CLIENTS];
static u64 use_clock;

/* ---- system calls ---- */

static inline u32 sys_read_byte(void)
{
    u32 r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(SYS_READ_BYTE) : "memory");
    return r;
}

static inline void sys_write(const char *p, u32 n)
{
    u32 r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(SYS_WRITE), "b"(p), "c"(n) : "memory");
}

static inline u64 sys_u64(u32 nr)
{
    u32 lo, hi;
    __asm__ volatile("int $0x80" : "=a"(lo), "=d"(hi) : "a"(nr) : "memory");
    return ((u64)hi << 32) | lo;
}

static inline __attribute__((noreturn)) void sys_exit(u32 status)
{
    __asm__ volatile("int $0x80" : : "a"(SYS_EXIT), "b"(status) : "memory");
    for (;;) ;
}

/* ---- replies ---- */

struct out { char buf[REPLY_MAX]; u32 len; };

static void out_str(struct out *o, const char *s)
{
    while (*s && o->len < REPLY_MAX - 1) o->buf[o->len++] = *s++;
}

static void out_u64(struct out *o, u64 v)
{
    char tmp[21];
    u32 n = fmt_u64(tmp, v);
    tmp[n] = 0;
    out_str(o, tmp);
}

/* ---- the table ---- */

static u32 hash(const char *s)
{
    u32 h = 2166136261u;   /* FNV-1a */
    while (*s) h = (h ^ (u8)*s++) * 16777619u;
    return h;
}

static void copy_str(char *dst, const char *src)
{
    while ((*dst++ = *src++)) ;
}

/* Index of key's slot, or of the empty slot where it would go. */
static u32 find_slot(const char *key)
{
    u32 i = hash(key) & (SLOTS - 1);
    while (slots[i].used && !str_eq(slots[i].key, key)) i = (i + 1) & (SLOTS - 1);
    return i;
}

static void remove_slot(u32 i)
{
    /* Backward-shift deletion: pull later entries of the same probe run into the hole so
       lookups never need tombstones. */
    slots[i].used = 0;
    u32 j = i;
    for (;;) {
        j = (j + 1) & (SLOTS - 1);
        if (!slots[j].used) return;
        u32 home = hash(slots[j].key) & (SLOTS - 1);
        int between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (between) continue;
        slots[i] = slots[j];
        slots[j].used = 0;
        i = j;
    }
}

/* ---- parsing ---- */

static int is_space(char c) { return c == ' ' || c == '\t'; }

/* Splits the next space-separated token off *p (NUL-terminates it); 0 if none is left. */
static char *next_token(char **p)
{
    char *s = *p;
    while (is_space(*s)) s++;
    if (!*s) { *p = s; return 0; }
    char *start = s;
    while (*s && !is_space(*s)) s++;
    if (*s) *s++ = 0;
    *p = s;
    return start;
}

static int parse_u64(const char *s, u64 *v)
{
    u64 r = 0;
    if (!*s) return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        u32 d = (u32)(*s - '0');
        if (r > (~(u64)0 - d) / 10) return 0;   /* u64 / constant compiles to a multiply */
        r = r * 10 + d;
    }
    *v = r;
    return 1;
}

static int parse_i64(const char *s, i64 *v)
{
    int neg = *s == '-';
    u64 mag;
    if (!parse_u64(s + neg, &mag)) return 0;
    if (mag > (u64)INT64_MAX + (u64)neg) return 0;
    *v = neg ? (i64)((u64)0 - mag) : (i64)mag;
    return 1;
}

/* ---- commands ---- */

static void execute(char *cmd, char *args, struct out *o)
{
    char *key = next_token(&args);
    if (str_eq(cmd, "STATS")) {
        if (key) { out_str(o, "ERR usage: STATS"); return; }
        out_str(o, "STATS keys=");
        out_u64(o, key_count);
        out_str(o, " requests=");
        out_u64(o, requests_executed);
        out_str(o, " uptime_ticks=");
        out_u64(o, sys_u64(SYS_TICKS));
        out_str(o, " tsc=");
        out_u64(o, sys_u64(SYS_RDTSC));
        return;
    }
    int is_put = str_eq(cmd, "PUT");
    if (!is_put && !str_eq(cmd, "GET") && !str_eq(cmd, "DEL") && !str_eq(cmd, "INCR")) {
        out_str(o, "ERR unknown command");
        return;
    }
    char *value = args;
    while (is_space(*value)) value++;
    if (!key || (is_put ? !*value : *value != 0)) {
        out_str(o, is_put ? "ERR usage: PUT key value" : "ERR usage: ");
        if (!is_put) { out_str(o, cmd); out_str(o, " key"); }
        return;
    }
    if (str_len(key) > KEY_MAX) { out_str(o, "ERR key too long"); return; }
    u32 i = find_slot(key);

    if (is_put) {
        if (str_len(value) > VALUE_MAX) { out_str(o, "ERR value too long"); return; }
        if (!slots[i].used) {
            if (key_count >= MAX_KEYS) { out_str(o, "ERR full"); return; }
            slots[i].used = 1;
            copy_str(slots[i].key, key);
            key_count++;
        }
        copy_str(slots[i].value, value);
        out_str(o, "OK");
    } else if (str_eq(cmd, "GET")) {
        if (!slots[i].used) { out_str(o, "NOTFOUND"); return; }
        out_str(o, "VALUE ");
        out_str(o, slots[i].value);
    } else if (str_eq(cmd, "DEL")) {
        if (!slots[i].used) { out_str(o, "NOTFOUND"); return; }
        remove_slot(i);
        key_count--;
        out_str(o, "OK");
    } else {   /* INCR: a missing key counts from 0 */
        i64 v = 0;
        if (slots[i].used && !parse_i64(slots[i].value, &v)) { out_str(o, "ERR not an integer"); return; }
        if (v == INT64_MAX) { out_str(o, "ERR overflow"); return; }
        if (!slots[i].used) {
            if (key_count >= MAX_KEYS) { out_str(o, "ERR full"); return; }
            slots[i].used = 1;
            copy_str(slots[i].key, key);
            key_count++;
        }
        v++;
        u32 n = fmt_i64(slots[i].value, v);
        slots[i].value[n] = 0;
        out_str(o, "VALUE ");
        out_str(o, slots[i].value);
    }
}

static struct client *client_for(const char *id)
{
    struct client *victim = &clients[0];
    for (u32 i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &clients[i];
        if (c->used && str_eq(c->id, id)) return c;
        if (!c->used) { if (victim->used) victim = c; }
        else if (victim->used && c->last_use < victim->last_use) victim = c;
    }
    victim->used = 1;
    copy_str(victim->id, id);
    victim->reply_len = 0;   /* no request seen yet */
    return victim;
}

static void reply_plain(const char *s)
{
    sys_write(s, str_len(s));
}

static void handle_line(char *line)
{
    if (str_eq(line, "SHUTDOWN")) sys_exit(0);
    char *p = line;
    char *cid = next_token(&p);
    if (!cid) return;   /* blank line */
    char *rid_text = next_token(&p);
    u64 rid;
    if (!rid_text || str_len(cid) > CLIENT_ID_MAX || !parse_u64(rid_text, &rid)) {
        reply_plain("ERR malformed\n");
        return;
    }
    struct client *c = client_for(cid);
    c->last_use = ++use_clock;

    struct out o;
    o.len = 0;
    out_str(&o, cid);
    out_str(&o, " ");
    out_u64(&o, rid);
    out_str(&o, " ");

    if (c->reply_len != 0 && rid <= c->last_request) {
        if (rid == c->last_request) {
            sys_write(c->reply, c->reply_len);   /* a retransmission: same answer, no re-execution */
        } else {
            out_str(&o, "ERR stale\n");
            sys_write(o.buf, o.len);
        }
        return;
    }

    char *cmd = next_token(&p);
    requests_executed++;
    if (!cmd) out_str(&o, "ERR malformed");
    else execute(cmd, p, &o);
    if (o.len > REPLY_MAX - 1) o.len = REPLY_MAX - 1;
    o.buf[o.len++] = '\n';
    c->last_request = rid;
    c->reply_len = o.len;
    for (u32 i = 0; i < o.len; i++) c->reply[i] = o.buf[i];
    sys_write(o.buf, o.len);
}

void server_main(void)
{
    static char line[LINE_MAX + 1];
    u32 len = 0;
    int too_long = 0;
    reply_plain("kvstore ready\n");
    for (;;) {
        char ch = (char)sys_read_byte();
        if (ch == '\r') continue;
        if (ch != '\n') {
            if (len < LINE_MAX) line[len++] = ch;
            else too_long = 1;
            continue;
        }
        line[len] = 0;
        if (too_long) reply_plain("ERR line too long\n");
        else handle_line(line);
        len = 0;
        too_long = 0;
    }
}
