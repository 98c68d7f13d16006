#!/usr/bin/env bash
# Local stack on 127.0.0.1: one Apache Kafka broker (KRaft), one Redis server (append-only file on) and
# S3Proxy (an S3-compatible server on a local folder) for call recordings.
#   deploy/local/stack.sh start|stop|status|reset
# Idempotent: start leaves running servers alone, stop ignores stopped ones. reset stops both and
# deletes their data (topics, offsets, Redis keys), keeping the downloaded Kafka jars.
# Kafka jars come from Maven Central via deploy/local/kafka/pom.xml and are cached in .local/kafka/lib;
# S3Proxy's the same way (deploy/local/s3proxy/pom.xml, .local/s3proxy/lib).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LOCAL=${OBZVON_LOCAL_DIR:-$ROOT/.local}
KAFKA_PORT=${OBZVON_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${OBZVON_KAFKA_CONTROLLER_PORT:-9093}
REDIS_PORT=${OBZVON_REDIS_PORT:-6379}
KAFKA_DIR=$LOCAL/kafka
REDIS_DIR=$LOCAL/redis
S3_PORT=${OBZVON_S3_PORT:-9000}
S3_DIR=$LOCAL/s3proxy
# S3Proxy's fixed local identity; tests and the demo pass it as OBZVON_RECORDINGS_S3_ACCESS_KEY/SECRET_KEY.
S3_IDENTITY=obzvon-local
S3_CREDENTIAL=obzvon-local-secret

log() { printf '[stack] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # port seconds what
  for _ in $(seq 1 $(( $2 * 5 ))); do port_open "$1" && return 0; sleep 0.2; done
  log "$3 did not open 127.0.0.1:$1 within $2 s"; return 1
}

kafka_jars() {
  if [ ! -f "$KAFKA_DIR/lib/.complete" ]; then
    log "resolving Apache Kafka jars from Maven Central (once)"
    mkdir -p "$KAFKA_DIR/lib"
    mvn -q -B -f "$ROOT/deploy/local/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_DIR/lib"
    touch "$KAFKA_DIR/lib/.complete"
  fi
}

kafka_start() {
  if port_open "$KAFKA_PORT"; then log "kafka already listening on 127.0.0.1:$KAFKA_PORT"; return 0; fi
  kafka_jars
  mkdir -p "$KAFKA_DIR/data"
  # Tests make topics of their own; thousands of partition folders slow the broker's start to minutes.
  local partitions
  partitions=$(find "$KAFKA_DIR/data" -mindepth 1 -maxdepth 1 -type d | wc -l)
  if [ "$partitions" -gt 3000 ]; then
    log "kafka data holds $partitions partition folders (slow start); '$0 reset' starts clean"
  fi
  cat > "$KAFKA_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=4
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
PROPS
  local cp="$KAFKA_DIR/lib/*"
  if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
    java -cp "$cp" kafka.tools.StorageTool format -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid)" \
      -c "$KAFKA_DIR/server.properties" >/dev/null
  fi
  cat > "$KAFKA_DIR/log4j.properties" <<'L4J'
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
L4J
  echo "log4j.appender.file.File=$KAFKA_DIR/server.log" >> "$KAFKA_DIR/log4j.properties"
  nohup java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" \
    -cp "$cp" kafka.Kafka "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/stdout.log" 2>&1 &
  echo $! > "$KAFKA_DIR/pid"
  wait_port "$KAFKA_PORT" 90 kafka || { tail -n 30 "$KAFKA_DIR/stdout.log" "$KAFKA_DIR/server.log" >&2; return 1; }
}

redis_start() {
  if port_open "$REDIS_PORT"; then
    # A Redis whose data directory is gone still answers PING but refuses writes (MISCONF).
    local answer
    answer=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" set obzvon:stack:probe ok 2>&1 || true)
    if [ "$answer" != "OK" ]; then
      log "the redis on 127.0.0.1:$REDIS_PORT refuses writes: ${answer:0:200}"
      log "stop it (redis-cli -p $REDIS_PORT shutdown nosave) and start again"
      return 1
    fi
    log "redis already listening on 127.0.0.1:$REDIS_PORT"; return 0
  fi
  mkdir -p "$REDIS_DIR"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" --appendonly yes \
    --appendfsync everysec --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"
  wait_port "$REDIS_PORT" 20 redis
}

s3proxy_start() {
  if port_open "$S3_PORT"; then log "s3proxy already listening on 127.0.0.1:$S3_PORT"; return 0; fi
  if [ ! -f "$S3_DIR/lib/.complete" ]; then
    log "resolving S3Proxy jars from Maven Central (once)"
    mkdir -p "$S3_DIR/lib"
    mvn -q -B -f "$ROOT/deploy/local/s3proxy/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$S3_DIR/lib"
    touch "$S3_DIR/lib/.complete"
  fi
  mkdir -p "$S3_DIR/data"
  cat > "$S3_DIR/s3proxy.properties" <<PROPS
s3proxy.endpoint=http://127.0.0.1:$S3_PORT
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$S3_IDENTITY
s3proxy.credential=$S3_CREDENTIAL
jclouds.provider=filesystem
jclouds.filesystem.basedir=$S3_DIR/data
PROPS
  nohup java -Xms64m -Xmx256m -Djava.awt.headless=true -cp "$S3_DIR/lib/*" org.gaul.s3proxy.Main \
    --properties "$S3_DIR/s3proxy.properties" >"$S3_DIR/stdout.log" 2>&1 &
  echo $! > "$S3_DIR/pid"
  wait_port "$S3_PORT" 60 s3proxy || { tail -n 30 "$S3_DIR/stdout.log" >&2; return 1; }
}

stop_pidfile() {  # pidfile name
  local pid
  pid=$(cat "$1" 2>/dev/null || true)  # read once: redis deletes its pidfile as it exits
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"; for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    # Redis refuses SIGTERM when its final save fails (a deleted data directory): nothing to keep.
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; log "$2 did not stop in 20 s: killed"; else log "$2 stopped"; fi
  fi
  rm -f "$1"
}

status() {
  local kv rv
  # the broker may be another checkout's (already listening): its version is then not known here
  kv=$( (ls "$KAFKA_DIR/lib" 2>/dev/null || true) | sed -n 's/^kafka_2.13-\(.*\)\.jar$/\1/p')
  rv=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
  if port_open "$KAFKA_PORT"; then echo "kafka $kv listening on 127.0.0.1:$KAFKA_PORT"; else echo "kafka: down"; fi
  if port_open "$REDIS_PORT"; then echo "redis $rv listening on 127.0.0.1:$REDIS_PORT (appendonly yes)"; else echo "redis: down"; fi
  if port_open "$S3_PORT"; then echo "s3proxy listening on 127.0.0.1:$S3_PORT"; else echo "s3proxy: down"; fi
}

case "${1:-status}" in
  start) redis_start; kafka_start; s3proxy_start; status ;;
  stop) stop_pidfile "$KAFKA_DIR/pid" kafka; stop_pidfile "$REDIS_DIR/redis.pid" redis; stop_pidfile "$S3_DIR/pid" s3proxy ;;
  status) status ;;
  reset)
    stop_pidfile "$KAFKA_DIR/pid" kafka; stop_pidfile "$REDIS_DIR/redis.pid" redis; stop_pidfile "$S3_DIR/pid" s3proxy
    if port_open "$KAFKA_PORT" || port_open "$REDIS_PORT"; then
      log "a server not started from $LOCAL still listens; stop it first"; exit 1
    fi
    rm -rf "$KAFKA_DIR/data" "$REDIS_DIR" "$S3_DIR/data"
    log "kafka, redis and s3proxy data deleted (jars kept)" ;;
  *) echo "usage: $0 start|stop|status|reset" >&2; exit 2 ;;
esac
