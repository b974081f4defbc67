#!/usr/bin/env bash
# clickhouse.sh starts a ClickHouse server for the clickhouse package's
# integration tests, on loopback only: the native protocol on
# 127.0.0.1:9000 and HTTP on 127.0.0.1:8123, no IPv6 wildcard, no
# interserver port. Its configuration, data and logs live under
# CLICKHOUSE_DIR (default /var/tmp/activitylog-clickhouse), never in
# /etc/clickhouse-server or /var/lib/clickhouse.
#
# Idempotent: when 127.0.0.1:9000 already answers it only prints the
# version. Otherwise it starts clickhouse-server (Debian's package,
# 18.16 when written) in the background, waits until it answers (up to
# 60 s), and prints the version. Exits non-zero when it does not come up.
#
#   .ci/clickhouse.sh
#   export ACTIVITYLOG_TEST_CLICKHOUSE_DSN=clickhouse://127.0.0.1:9000/default
set -euo pipefail

dir=${CLICKHOUSE_DIR:-/var/tmp/activitylog-clickhouse}
server=${CLICKHOUSE_SERVER:-/usr/sbin/clickhouse-server}
client=${CLICKHOUSE_CLIENT:-/usr/bin/clickhouse-client}

# version prints the server's version when 127.0.0.1:9000 answers: through
# clickhouse-client, or, without it, the HTTP port.
version() {
  if [ -x "$client" ]; then
    "$client" --host 127.0.0.1 --port 9000 --query 'SELECT version()' 2>/dev/null
  else
    (exec 3<>/dev/tcp/127.0.0.1/9000) 2>/dev/null &&
      curl -fsS 'http://127.0.0.1:8123/?query=SELECT%20version()' 2>/dev/null
  fi
}

if v=$(version); then
  echo "clickhouse $v already running on 127.0.0.1:9000"
  exit 0
fi

if [ ! -x "$server" ]; then
  echo "clickhouse.sh: $server not found; install Debian's clickhouse-server package" >&2
  exit 1
fi

mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/clickhouse-server.log</log>
        <errorlog>$dir/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>8123</http_port>
    <tcp_port>9000</tcp_port>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>536870912</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
EOF
cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks replace="replace">
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF

echo "starting clickhouse-server (data in $dir)"
# setsid: the server outlives this script and the CI step that ran it.
setsid "$server" --config-file="$dir/config.xml" >>"$dir/log/stdout.log" 2>&1 </dev/null &
echo $! >"$dir/clickhouse-server.pid"

for _ in $(seq 1 120); do
  if v=$(version); then
    echo "clickhouse $v running on 127.0.0.1:9000 (pid $(cat "$dir/clickhouse-server.pid"))"
    exit 0
  fi
  if ! kill -0 "$(cat "$dir/clickhouse-server.pid")" 2>/dev/null; then
    echo "clickhouse.sh: clickhouse-server exited; its logs:" >&2
    tail -n 30 "$dir/log/stdout.log" "$dir/log/clickhouse-server.err.log" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.5
done
echo "clickhouse.sh: clickhouse-server did not answer on 127.0.0.1:9000 within 60 s" >&2
tail -n 30 "$dir/log/clickhouse-server.err.log" >&2 2>/dev/null || true
exit 1
