"""The real services' configuration files for the control-plane lab, one job each (docs/openstack.md).

Every function returns text; `ControlPlane` writes it into a host's private directories.
"""
from __future__ import annotations

from collections.abc import Mapping

KEYSTONE_PORT = 5000
DB_PORT = 3306
CHECK_PORT = 9200       # the Galera health responder HAProxy asks (200 only when Synced)
HAPROXY_MON_PORT = 8404  # HAProxy's own liveness page on the host address (its monitor)
MEMCACHED_PORT = 11211
DB_PASSWORD = "corral-lab"  # noqa: S105 - a throwaway lab database reachable only inside the lab


def my_cnf(host: str, address: str, addresses: Mapping[str, str]) -> str:
    gcomm = ",".join(addresses.values())
    # Fast eviction of a dead member: a crash stalls commits until it is evicted (facts: ~5 s default).
    provider_opts = ("evs.keepalive_period=PT0.3S;evs.suspect_timeout=PT1.5S;evs.inactive_timeout=PT3S;"
                     "evs.inactive_check_period=PT0.5S;gcache.size=64M;pc.recovery=FALSE")
    return f"""# written by corral_lab.controlplane: host {host}
[client-server]
socket = /run/mysqld/mysqld.sock

[mysqld]
user = mysql
datadir = /var/lib/mysql
pid-file = /run/mysqld/mysqld.pid
bind-address = {address}
port = {DB_PORT}
log-error = /var/lib/mysql/error.log
skip-name-resolve
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
innodb_buffer_pool_size = 32M
innodb_flush_log_at_trx_commit = 1
performance_schema = OFF
max_connections = 200
wsrep_on = ON
wsrep_provider = /usr/lib/galera/libgalera_smm.so
wsrep_cluster_name = corral-lab
wsrep_cluster_address = gcomm://{gcomm}
wsrep_node_address = {address}
wsrep_node_name = {host}
wsrep_sst_method = rsync
wsrep_provider_options = "{provider_opts}"
"""


def haproxy_cfg(vip: str, address: str, backends: Mapping[str, str]) -> str:
    """Keystone on every controller; the database with one writer and the others `backup`, checked by
    the Galera health responder (200 only when Synced)."""
    names = list(backends)
    ks = "\n".join(f"    server {n} {a}:{KEYSTONE_PORT} check inter 500ms fall 2 rise 2"
                   for n, a in backends.items())
    db = "\n".join(f"    server {n} {a}:{DB_PORT} check port {CHECK_PORT} inter 500ms fall 2 rise 2 "
                   f"on-marked-down shutdown-sessions{' backup' if n != names[0] else ''}"
                   for n, a in backends.items())
    return f"""# written by corral_lab.controlplane
global
    maxconn 2000
    pidfile /run/haproxy-lab.pid
defaults
    mode tcp
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    retries 2
    option redispatch
frontend lab-monitor
    mode http
    bind {address}:{HAPROXY_MON_PORT}
    monitor-uri /healthz
listen keystone
    mode http
    bind {vip}:{KEYSTONE_PORT}
    option httpchk GET /v3
    http-check expect status 200
    balance roundrobin
{ks}
listen galera
    bind {vip}:{DB_PORT}
    option httpchk GET /
    http-check expect status 200
    timeout client 90m
    timeout server 90m
{db}
"""


def keystone_conf(vip: str, memcached: list[str], key_dir: str) -> str:
    servers = ",".join(f"{a}:{MEMCACHED_PORT}" for a in memcached)
    return f"""# written by corral_lab.controlplane
[DEFAULT]
use_stderr = true
[database]
connection = mysql+pymysql://keystone:{DB_PASSWORD}@{vip}/keystone
max_retries = -1
retry_interval = 1
connection_recycle_time = 60
[token]
provider = fernet
[fernet_tokens]
key_repository = {key_dir}/fernet-keys
[fernet_receipts]
key_repository = {key_dir}/fernet-keys
[credential]
key_repository = {key_dir}/credential-keys
[identity]
# a lab setting: bcrypt's default cost cannot issue tokens fast enough on 2 shared cores
password_hash_rounds = 4
[cache]
enabled = true
backend = oslo_cache.memcache_pool
memcache_servers = {servers}
memcache_socket_timeout = 0.5
memcache_dead_retry = 30
memcache_pool_connection_get_timeout = 1
"""


# The Galera health responder: 200 when wsrep_local_state is 4 (Synced), else 503; run by
# /usr/bin/python3 (Debian's pymysql) on each controller's own address.
GALERA_CHECK = '''\
import http.server, socketserver, sys, pymysql
ADDR, PORT = sys.argv[1], int(sys.argv[2])
conn = None
def synced():
    global conn
    try:
        if conn is None:
            conn = pymysql.connect(unix_socket="/run/mysqld/mysqld.sock", user="root", connect_timeout=1,
                                   read_timeout=2, autocommit=True)
        with conn.cursor() as c:
            c.execute("SHOW GLOBAL STATUS LIKE 'wsrep_local_state'")
            row = c.fetchone()
        return bool(row) and row[1] == "4"
    except Exception:
        conn = None
        return False
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = synced()
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
class S(socketserver.TCPServer):
    allow_reuse_address = True
S((ADDR, PORT), H).serve_forever()
'''
