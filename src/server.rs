//! Starting and stopping the gateway: validates cores, binds the
//! SO_REUSEPORT order-entry and market-data listeners of each shard that
//! binds them (`server.*_shards`), builds the mesh, and starts
//! one pinned thread per shard, each running its own io_uring reactor
//! (`shard/reactor/`).

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::admin::{AdminRings, AdminThread};
use crate::config::Config;
use crate::shard::mesh::{self, Doorbell};
use crate::shard::runtime;
use crate::shard::shared::Shared;

/// Choices made on the command line rather than in the config file.
#[derive(Clone, Copy, Debug, Default)]
pub struct StartOptions {
    /// Cut a corrupt journal at the damage instead of refusing to start.
    pub truncate_corrupt_journal: bool,
}

/// A running gateway.
pub struct Server {
    shared: Arc<Shared>,
    shards: Vec<std::thread::JoinHandle<()>>,
    order_entry: SocketAddr,
    market_data: SocketAddr,
    admin: Option<AdminThread>,
    /// The journal shipper (`[replication]`), started once the shards
    /// recovered their journals.
    shipper: Option<crate::replication::Shipper>,
}

#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Makes glibc serve every allocation of 64 KiB or more with its own
/// mapping and unmap it when freed. Per-session buffers (the send buffer
/// and the writer's swap buffer of `send_buffer_bytes` each, the reader's
/// 64 KiB) are allocated when a session starts (at its Logon) and freed
/// when it closes; by default glibc raises its mmap threshold after the first such
/// free (up to 32 MiB), after which those buffers come from the heap and
/// their pages stay resident when freed: RSS grew by 59 MB over ten rounds
/// of 400 connections that never logged on, and kept it
/// (tests/gateway/memory.rs). A fixed threshold turns the dynamic
/// adjustment off, so memory goes back to its baseline after churn. The
/// cost is an mmap/munmap per buffer at connect and close, never per
/// message. Idempotent; process-wide.
pub fn return_freed_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
    }
}

/// How often the main thread gives freed heap memory back to the OS.
pub const MEMORY_TRIM_INTERVAL: Duration = Duration::from_secs(5);

/// Returns the free memory of every malloc arena to the OS
/// (`malloc_trim(0)`). Small allocations of connections that came and went
/// (per-connection state and tasks; glommio's per-operation state, when
/// the shards ran on it) fragment the
/// arenas, and glibc gives back only the top of a heap: 400-connection
/// rounds of connections that never logged on left RSS 24 MB higher after
/// 20 rounds, all of it returned by one `malloc_trim(0)`. Runs on the main
/// thread, never a shard; it holds each arena's lock briefly, so a shard
/// allocating at that moment (a connection opening) may wait that long.
pub fn trim_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let started = std::time::Instant::now();
        // SAFETY: malloc_trim has no preconditions.
        let released = unsafe { libc::malloc_trim(0) };
        tracing::debug!(
            released = released != 0,
            elapsed_us = started.elapsed().as_micros() as u64,
            "heap trimmed"
        );
    }
}

/// Every configured core must be one this process may run on.
pub fn check_cores(config: &Config) -> Result<(), StartError> {
    let available: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    // The admin thread's core too: absent, the thread would run unpinned
    // after a warning, wherever the scheduler put it.
    let shard_cores = config.server.cores.iter().enumerate();
    let named = shard_cores
        .map(|(i, &core)| (format!("server.cores[{i}]"), core))
        .chain(
            config
                .telemetry
                .admin_core
                .map(|core| ("telemetry.admin_core".to_string(), core)),
        );
    for (field, core) in named {
        if !available.contains(&core) {
            return Err(StartError(format!(
                "config: {field}: core {core} is not available to this process (available: {available:?})"
            )));
        }
    }
    Ok(())
}

fn listener(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket)
}

/// How long start-up waits for a dead gateway's listener to go away.
const PORT_RELEASE_WAIT: Duration = Duration::from_secs(5);
/// How often it tries the port again meanwhile.
const PORT_RETRY_EVERY: Duration = Duration::from_millis(25);

/// Refuses to start beside a live gateway on the order-entry port.
///
/// SO_REUSEPORT would let a second gateway bind the same port and silently
/// split clients between two order books. A bind without it fails on a
/// port anyone listens on, reuse-port or not: probe first. The probe sets
/// SO_REUSEADDR (as the real listeners do), so connections of a stopped
/// gateway left in TIME_WAIT on the port (it closes first when it ends a
/// session) do not refuse a restart.
///
/// A port in use is not always a live gateway: the listener of one killed
/// a moment ago outlives the process for a while (its io_uring is torn
/// down asynchronously, and the pending accept holds the socket), so a
/// restart by systemd or an operator right after `kill -9` would fail.
/// The journal's `LOCK` tells the two apart: the kernel releases a flock
/// when the process's files are closed, before its parent can see it
/// exit. Held: another gateway runs on this journal, refuse at once. Free:
/// wait, bounded, for the port.
fn probe_order_entry(config: &Config) -> Result<(), StartError> {
    let addr = config.server.order_entry;
    if addr.port() == 0 {
        return Ok(());
    }
    let started = Instant::now();
    let deadline = started + PORT_RELEASE_WAIT;
    let mut waiting_logged = false;
    loop {
        let error = match probe_bind(addr) {
            Ok(()) => {
                if waiting_logged {
                    tracing::info!(%addr, waited_ms = started.elapsed().as_millis() as u64, "order-entry port free");
                }
                return Ok(());
            }
            Err(error) => error,
        };
        if error.kind() != std::io::ErrorKind::AddrInUse {
            return Err(StartError(format!("server.order_entry {addr}: {error}")));
        }
        if let Some(lock) = held_journal_lock(config) {
            return Err(StartError(format!(
                "server.order_entry {addr}: {error}: another gateway is running with the journal {} ({} is locked)",
                config.journal.dir.display(),
                lock.display()
            )));
        }
        if Instant::now() >= deadline {
            return Err(StartError(format!(
                "server.order_entry {addr}: {error} (is another gateway running?)"
            )));
        }
        if !waiting_logged {
            waiting_logged = true;
            tracing::warn!(
                %addr,
                wait_ms = PORT_RELEASE_WAIT.as_millis() as u64,
                "order-entry port busy but no gateway holds the journal: waiting for the old listener to close"
            );
        }
        std::thread::sleep(PORT_RETRY_EVERY);
    }
}

/// Binds (and releases) the address without SO_REUSEPORT.
fn probe_bind(addr: SocketAddr) -> std::io::Result<()> {
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into())
}

/// The first shard `LOCK` file of this config's journal that a live
/// process holds (see `journal::writer::lock_dir`). Nothing is created: a
/// missing directory or file is a journal nobody runs on.
fn held_journal_lock(config: &Config) -> Option<PathBuf> {
    (0..config.shard_count() as u16)
        .map(|shard| crate::journal::shard_dir(&config.journal.dir, shard).join("LOCK"))
        .find(|path| {
            let Ok(file) = std::fs::File::open(path) else {
                return false;
            };
            // A shared lock conflicts with the writer's exclusive one, and
            // is dropped with the file at the end of this closure.
            // SAFETY: flock on a descriptor we own.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
            rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK)
        })
}

/// One `SO_REUSEPORT` listener on `configured` for each shard that binds
/// it (`Config::listeners`; port 0: the first one's ephemeral port for
/// all), `None` for the others. `key` names the address in errors.
fn bind_shard_listeners(
    config: &Config,
    key: &str,
    configured: SocketAddr,
    binds: fn(crate::config::Listeners) -> bool,
) -> Result<(SocketAddr, Vec<Option<Socket>>), StartError> {
    let error = |addr: SocketAddr| move |e| StartError(format!("{key} {addr}: {e}"));
    let mut addr = configured;
    let mut listeners = Vec::with_capacity(config.shard_count());
    for shard in 0..config.shard_count() {
        if !binds(config.listeners(shard)) {
            listeners.push(None);
            continue;
        }
        let socket = listener(addr).map_err(error(addr))?;
        if addr.port() == 0 {
            addr = socket
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .ok_or_else(|| StartError(format!("{key}: the listener has no address")))?;
        }
        listeners.push(Some(socket));
    }
    debug_assert_eq!(listeners.len(), config.shard_count());
    assert!(
        listeners.iter().any(Option::is_some),
        "validated: a shard binds {key}"
    );
    Ok((addr, listeners))
}

/// Says at start which shard binds which listener (docs/OPERATIONS.md,
/// "Listener placement"); `/stats` says it too, per shard.
fn log_placement(config: &Config, order_entry: SocketAddr, market_data: SocketAddr) {
    let order_entry_shards = config.shards_binding(|l| l.order_entry);
    let market_data_shards = config.shards_binding(|l| l.market_data);
    debug_assert!(!order_entry_shards.is_empty() && !market_data_shards.is_empty());
    tracing::info!(
        %order_entry,
        ?order_entry_shards,
        %market_data,
        ?market_data_shards,
        "listeners bound"
    );
}

/// A follower's relay listeners (`replication/relay.rs`): `count`
/// `SO_REUSEPORT` listeners on `addr` (port 0: the first one's ephemeral
/// port for all), after a probe without `SO_REUSEPORT`, so a relay never
/// joins the listeners of a gateway (or another relay) on this host and
/// silently takes part of its clients.
pub fn bind_relay_listeners(
    addr: SocketAddr,
    count: usize,
) -> Result<(SocketAddr, Vec<OwnedFd>), String> {
    assert!(count > 0, "a relay thread per listener");
    let error = |addr: SocketAddr| move |e| format!("server.market_data {addr}: {e}");
    if addr.port() != 0 {
        probe_bind(addr).map_err(error(addr))?;
    }
    let first = listener(addr).map_err(error(addr))?;
    let bound = first
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .ok_or_else(|| "market-data listener has no address".to_string())?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(listener(bound).map_err(error(bound))?);
    }
    let fds = listeners
        .into_iter()
        // SAFETY: the socket's fd, taken out of it, is owned by the relay alone.
        .map(|socket| unsafe { OwnedFd::from_raw_fd(socket.into_raw_fd()) })
        .collect();
    Ok((bound, fds))
}

/// Chooses (and calibrates, about 20 ms) the latency clock before any
/// shard records, so every thread reads the same one; binds the admin port.
fn bind_admin(config: &Config) -> Result<std::net::TcpListener, StartError> {
    tracing::info!(
        clock = crate::telemetry::clock::source_name(),
        capture = config.telemetry.latency_capture,
        "latency capture clock"
    );
    std::net::TcpListener::bind(config.server.admin)
        .map_err(|e| StartError(format!("server.admin {}: {e}", config.server.admin)))
}

/// Gives every shard its telemetry rings, operator ring and market-state
/// rings; returns the admin thread's ends.
fn attach_admin_rings(config: &Config, links: &mut [mesh::Links]) -> AdminRings {
    let (operator_tx, operator_rx) = crate::shard::operator::operator_rings(links.len());
    let mut rings = AdminRings {
        latency: Vec::with_capacity(links.len()),
        operator: operator_tx,
        market: Vec::with_capacity(links.len()),
    };
    for ((id, link), operator) in links.iter_mut().enumerate().zip(operator_rx) {
        let (shard_end, admin_end) = crate::telemetry::link::link(id as u16);
        link.telemetry = Some(shard_end);
        link.operator = Some(operator);
        rings.latency.push(admin_end);
        let (shard_end, admin_end) =
            crate::telemetry::market_link::market_link_for(config, id as u16);
        link.market = Some(shard_end);
        rings.market.push(admin_end);
    }
    debug_assert_eq!(rings.market.len(), links.len());
    rings
}

/// A listener's fd, taken out of its socket, owned by the shard alone.
fn owned_by_the_shard(socket: Socket) -> OwnedFd {
    let fd = socket.into_raw_fd();
    debug_assert!(fd >= 0);
    // SAFETY: the fd was just taken out of the socket, which no longer owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

impl Server {
    pub fn start(config: Config) -> Result<Server, StartError> {
        Server::start_with(config, StartOptions::default())
    }

    // TODO(issue 10): split (over 70 lines; allowed so that the list only shrinks).
    #[allow(clippy::too_many_lines)]
    pub fn start_with(config: Config, options: StartOptions) -> Result<Server, StartError> {
        check_cores(&config)?;
        return_freed_buffers_to_the_os();
        let shards = config.shard_count();
        probe_order_entry(&config)?;
        // One listener per shard that binds it, on the same port: the
        // kernel spreads new connections over them.
        let (order_entry, listeners) = bind_shard_listeners(
            &config,
            "server.order_entry",
            config.server.order_entry,
            |l| l.order_entry,
        )?;
        let (market_data, md_listeners) = bind_shard_listeners(
            &config,
            "server.market_data",
            config.server.market_data,
            |l| l.market_data,
        )?;
        log_placement(&config, order_entry, market_data);
        let mut doorbells = Vec::with_capacity(shards);
        let mut doorbell_rx = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (bell, rx) =
                Doorbell::new().map_err(|e| StartError(format!("shard reactor: {e}")))?;
            doorbells.push(bell);
            doorbell_rx.push(rx);
        }
        let admin_listener = bind_admin(&config)?;
        // The shutdown's doorbells are rung from this thread.
        crate::shard::notify::prepare_sender();
        let mut links = mesh::build(shards, config.server.ring_capacity);
        let admin_rings = attach_admin_rings(&config, &mut links);
        let mut shared = Shared::new(config, doorbells);
        shared.truncate_corrupt_journal = options.truncate_corrupt_journal;
        let shared = Arc::new(shared);
        // Serving before the shards recover: /health answers at once, and
        // /ready says "not ready" until every shard is up.
        let admin = AdminThread::start(admin_listener, Arc::clone(&shared), admin_rings)
            .map_err(|e| StartError(format!("admin thread: {e}")))?;
        let mut handles = Vec::with_capacity(shards);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        for (id, (((links, listener), md_listener), ring)) in links
            .into_iter()
            .zip(listeners)
            .zip(md_listeners)
            .zip(doorbell_rx)
            .enumerate()
        {
            let shared = Arc::clone(&shared);
            let listener = listener.map(owned_by_the_shard);
            let md_listener = md_listener.map(owned_by_the_shard);
            let started = started_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("shard-{id}"))
                .spawn(move || {
                    runtime::run(
                        id as u16,
                        shared,
                        links,
                        listener,
                        md_listener,
                        ring,
                        started,
                    )
                })
                .map_err(|e| StartError(format!("shard {id}: cannot start thread: {e}")))?;
            handles.push(handle);
        }
        drop(started_tx);
        let server = Server {
            shared,
            shards: handles,
            order_entry,
            market_data,
            admin: Some(admin),
            shipper: None,
        };
        // Every shard answers once it has recovered (or failed to).
        let mut failures = Vec::new();
        for _ in 0..shards {
            match started_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(e),
                Err(_) => failures.push("a shard stopped during start-up".to_string()),
            }
        }
        if failures.is_empty() {
            let mut server = server;
            if server.shared.config.replication.enabled() {
                let cores = crate::admin::housekeeping_cores(&server.shared.config);
                let shipper = crate::replication::Shipper::start(Arc::clone(&server.shared), cores)
                    .map_err(|e| StartError(format!("journal shipper thread: {e}")))?;
                server.shipper = Some(shipper);
            }
            server
                .shared
                .telemetry
                .started
                .store(true, std::sync::atomic::Ordering::Release);
            Ok(server)
        } else {
            // Not joined: a started shard's graceful shutdown waits for the
            // quiescence of every shard, which one that never ran cannot
            // give, so joining would hang the process (it did, silently,
            // when RLIMIT_MEMLOCK fit one shard's rings but not two). The
            // caller exits; what a started shard journaled survives that as
            // it survives kill -9, and nothing was reported ready.
            server.shutdown();
            server.detach();
            Err(StartError(failures.join("; ")))
        }
    }

    pub fn order_entry_addr(&self) -> SocketAddr {
        self.order_entry
    }

    /// Where the WebSocket market-data endpoint listens.
    pub fn market_data_addr(&self) -> SocketAddr {
        self.market_data
    }

    /// Where the admin HTTP endpoints listen.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminThread::addr)
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Begins a graceful shutdown (returns at once; `join` waits for it).
    pub fn shutdown(&self) {
        self.shared.begin_shutdown();
    }

    /// Leaves the shard threads to the process's exit (after a failed
    /// start only).
    fn detach(mut self) {
        debug_assert!(self.shared.shutting_down());
        self.shards.clear();
        if let Some(admin) = self.admin.take() {
            admin.stop();
        }
    }

    /// Waits for every shard to finish.
    pub fn join(mut self) -> Result<(), StartError> {
        let mut failed = Vec::new();
        for (id, handle) in self.shards.into_iter().enumerate() {
            if handle.join().is_err() {
                failed.push(format!("shard {id}: panicked"));
            }
        }
        // Ships what the shards journaled before they stopped (a few
        // seconds at most: a promotion's recovery point is then the whole
        // journal, when NATS is up).
        if let Some(shipper) = self.shipper.take() {
            shipper.stop();
        }
        // Serves (not ready) until the shards are done.
        if let Some(admin) = self.admin.take() {
            admin.stop();
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(StartError(failed.join("; ")))
        }
    }
}
