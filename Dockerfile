# syntax=docker/dockerfile:1
# tradsys gateway image. Build: docker build -t tradsys .
# Run (io_uring and locked memory need the flags; see docs/OPERATIONS.md, "Docker"):
#   docker run --rm --network host --cpuset-cpus 0-5 --ulimit memlock=-1 \
#     --security-opt seccomp=unconfined -v tradsys-journal:/var/lib/tradsys tradsys

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target/ between builds; the binary is
# copied out because the target cache is not part of the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tradsys \
    && install -D -m 0755 target/release/tradsys /out/tradsys

FROM debian:bookworm-slim
# Same user and paths as the systemd unit: config in /etc/tradsys, journal
# in /var/lib/tradsys (a volume: overlayfs is no place for a journal).
RUN groupadd --system --gid 10001 tradsys \
    && useradd --system --uid 10001 --gid tradsys --home-dir /var/lib/tradsys \
       --no-create-home --shell /usr/sbin/nologin tradsys \
    && install -d -o tradsys -g tradsys -m 0750 /var/lib/tradsys \
    && install -d -m 0755 /etc/tradsys
COPY --from=builder /out/tradsys /usr/local/bin/tradsys
COPY configs/tradsys.toml /etc/tradsys/tradsys.toml
# The default config listens on loopback, which published ports cannot
# reach: listen on all interfaces and keep the journal on the volume. The
# test fails the build if the default's keys ever change. Mount your own
# config over /etc/tradsys/tradsys.toml for anything but a trial: the
# default's accounts and tokens are demo ones.
RUN sed -i -E \
      -e 's/^(order_entry|market_data|admin) = "127\.0\.0\.1:/\1 = "0.0.0.0:/' \
      -e 's|^dir = "\./data"|dir = "/var/lib/tradsys/journal"|' \
      /etc/tradsys/tradsys.toml \
    && test "$(grep -cE '^((order_entry|market_data|admin) = "0\.0\.0\.0:|dir = "/var/lib/tradsys/journal")' /etc/tradsys/tradsys.toml)" = 4
USER 10001:10001
WORKDIR /var/lib/tradsys
VOLUME ["/var/lib/tradsys"]
# order entry (binary TCP), market data (WebSocket), admin HTTP
EXPOSE 7001 7002 9090
STOPSIGNAL SIGTERM
# The slim image has no curl or wget; bash's /dev/tcp speaks enough HTTP/1.0
# to ask the admin thread for /ready: 200 once every shard has recovered its
# journal and every listener is bound, 503 before that and once a shutdown
# has begun (/health, plain liveness, would stay 200 through both). A long
# journal replay at start is what --start-period covers.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9090 && printf 'GET /ready HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q '^HTTP/1\\.[01] 200'"]
ENTRYPOINT ["tradsys"]
CMD ["serve", "--config", "/etc/tradsys/tradsys.toml"]
