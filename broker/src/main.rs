//! `ironlog`: the broker binary. `ironlog broker [--config FILE] [--override key=value]...`,
//! `ironlog format --cluster-id ID [--release-version X] [--feature NAME=LEVEL]... [--add-scram CREDENTIAL]... [--standalone | --initial-controllers VOTERS | --no-initial-controllers]`
//! (Kafka's storage format),
//! `ironlog random-uuid`, and the end-to-end canary, `ironlog canary --bootstrap-server HOST:PORT [--config FILE]
//! [--override key=value]...`.
//!
//! Settings also come from `IRONLOG_*` environment variables (`IRONLOG_LOG_DIRS` sets
//! `log.dirs`; see `ironlog_config::overrides_from_env`): the file (or the embedded
//! default) < the environment < `--override`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ironlog_config::{overrides_from_env, BrokerConfig};

#[derive(Parser)]
#[command(
    name = "ironlog",
    version,
    about = "Kafka-compatible event streaming broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker. With no arguments: a single node on localhost:9092 with data in
    /// ./ironlog-data.
    Broker {
        /// A Kafka-style server.properties file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Overrides one setting, Kafka-style: --override log.retention.ms=60000 (repeatable).
        /// Wins over the config file and over IRONLOG_* environment variables
        /// (IRONLOG_LOG_RETENTION_MS=60000 sets log.retention.ms; `_` stands for `.`, `__`
        /// for `_`, `___` for `-`).
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Formats the node's empty data directories before its first start, as Kafka's
    /// `kafka-storage.sh format`: meta.properties in every log dir and the metadata log
    /// dir, with the SCRAM credentials of --add-scram, which the cluster's metadata log
    /// then starts with (what brokers that replicate over SCRAM need). Reads the same --config / IRONLOG_* / --override settings as
    /// `broker`. Nothing is written when an argument is wrong or a directory is formatted
    /// already.
    Format {
        /// The broker's server.properties file.
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// As for `broker`.
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// The cluster id (`ironlog random-uuid` makes one); defaults to `cluster.id`.
        #[arg(long, short = 't')]
        cluster_id: Option<String>,
        /// A SCRAM credential for the metadata log (repeatable):
        /// 'SCRAM-SHA-256=[name=alice,password=alice-secret]', also with iterations=N
        /// (4096..16384), salt=BASE64, or saltedpassword=BASE64 with salt= instead of password=.
        #[arg(long = "add-scram", short = 'S', value_name = "SCRAM_CREDENTIAL")]
        add_scram: Vec<String>,
        /// Skip directories that are formatted already instead of failing.
        #[arg(long, short = 'g')]
        ignore_formatted: bool,
        /// The release the cluster starts at (its metadata.version and default feature
        /// levels): e.g. 3.9 or 3.9-IV0; default the latest supported (4.1-IV1).
        #[arg(long, short = 'r')]
        release_version: Option<String>,
        /// A feature level other than metadata.version (repeatable): group.version=1.
        #[arg(long = "feature", short = 'f', value_name = "NAME=LEVEL")]
        features: Vec<String>,
        /// A controller with controller.quorum.bootstrap.servers: the dynamic quorum's first
        /// and only voter.
        #[arg(long, short = 's')]
        standalone: bool,
        /// A controller with controller.quorum.bootstrap.servers: joins the quorum as an
        /// observer, to be added as a voter with `kafka-metadata-quorum add-controller`.
        #[arg(long, short = 'N')]
        no_initial_controllers: bool,
        /// A controller with controller.quorum.bootstrap.servers: one of the dynamic
        /// quorum's first voters, all listed as id@host:port:DIRECTORY_ID,... (the same list
        /// on each; this node's entry gives its metadata log dir's directory id).
        #[arg(long, short = 'I', value_name = "VOTERS")]
        initial_controllers: Option<String>,
    },
    /// Prints a new random cluster id (for `format --cluster-id`).
    RandomUuid,
    /// Exits 0 when the local broker is ready: its admin listener answers /health/ready
    /// with 200 (what a container HEALTHCHECK or an exec probe runs). The address is the
    /// broker's `admin.listener`, from the same file, IRONLOG_* variables and overrides the
    /// broker reads (a wildcard host is checked on 127.0.0.1).
    Healthcheck {
        /// The broker's server.properties file, if it has one.
        #[arg(long)]
        config: Option<PathBuf>,
        /// As for `broker`.
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// The path to ask for: /health/ready, or /health/live for liveness.
        #[arg(long, default_value = "/health/ready")]
        path: String,
        /// Bound on the whole check.
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
    },
    /// Run the end-to-end canary against a cluster: a canary topic with a partition led by
    /// every broker, one record per partition every canary.interval.ms produced (acks=all)
    /// and consumed back, latency, availability and lost / duplicated / out-of-order
    /// records as Prometheus metrics on canary.listener (/metrics, /health/live,
    /// /health/ready). Settings: --config, then IRONLOG_CANARY_* variables
    /// (IRONLOG_CANARY_INTERVAL_MS sets canary.interval.ms, IRONLOG_CANARY_BOOTSTRAP_SERVERS
    /// bootstrap.servers), then --override, then --bootstrap-server.
    Canary {
        /// Brokers to ask for metadata first: HOST:PORT[,HOST:PORT...] (bootstrap.servers).
        #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
        bootstrap_server: Option<String>,
        /// A .properties file of canary settings (see --list-settings).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Sets one setting: --override canary.interval.ms=500 (repeatable).
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Prints every setting with its default and exits.
        #[arg(long)]
        list_settings: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Broker { config, overrides } => {
            let (config, from_env) = load_config(config, overrides)?;
            // Logs start once the configuration (which chooses their format) is known;
            // level from RUST_LOG, changeable at runtime (/loggers, BROKER_LOGGER).
            ironlog::init_logging(
                config.logger_format_json,
                config.logger_audit_file.as_deref(),
            )
            .context("cannot open logger.audit.file")?;
            raise_open_files_limit();
            for setting in &from_env {
                // Values are not logged: some settings are passwords.
                tracing::info!(
                    variable = %setting.variable,
                    key = %setting.key,
                    "setting from the environment"
                );
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("ironlog")
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(run_broker(config))
        }
        Command::Format {
            config,
            mut overrides,
            cluster_id,
            add_scram,
            ignore_formatted,
            release_version,
            features,
            standalone,
            no_initial_controllers,
            initial_controllers,
        } => {
            if let Some(id) = cluster_id {
                overrides.push(format!("cluster.id={id}"));
            }
            let (config, _) = load_config(config, overrides)?;
            let outcome = ironlog::format_storage(
                &config,
                &ironlog::FormatRequest {
                    add_scram,
                    ignore_formatted,
                    release_version,
                    features,
                    standalone,
                    no_initial_controllers,
                    initial_controllers,
                },
            )?;
            for dir in &outcome.skipped {
                println!("Skipping {}: already formatted.", dir.display());
            }
            for dir in &outcome.formatted {
                println!(
                    "Formatted {} (cluster id {}, metadata.version {}, {} SCRAM credential(s)).",
                    dir.display(),
                    config.cluster_id.as_deref().unwrap_or_default(),
                    outcome.metadata_version,
                    outcome.bootstrap_records
                );
            }
            if outcome.formatted.is_empty() {
                println!("All of the log directories are already formatted.");
            }
            Ok(())
        }
        Command::RandomUuid => {
            println!("{}", ironlog::random_uuid());
            Ok(())
        }
        Command::Healthcheck {
            config,
            overrides,
            path,
            timeout_ms,
        } => {
            let (config, _) = load_config(config, overrides)?;
            let (host, port) = config
                .admin_listener
                .context("admin.listener is empty: the broker serves no health endpoint")?;
            let host = match host.as_str() {
                "" | "0.0.0.0" => "127.0.0.1".to_owned(),
                "::" | "[::]" => "::1".to_owned(),
                _ => host,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let timeout = std::time::Duration::from_millis(timeout_ms);
            let status = runtime
                .block_on(async {
                    tokio::time::timeout(timeout, http_status(&host, port, &path)).await
                })
                .map_err(|_| anyhow::anyhow!("no answer from {host}:{port} in {timeout_ms} ms"))?
                .with_context(|| format!("cannot ask {host}:{port}{path}"))?;
            anyhow::ensure!(status == 200, "{host}:{port}{path} answered {status}");
            Ok(())
        }
        Command::Canary {
            bootstrap_server,
            config,
            overrides,
            list_settings,
        } => {
            if list_settings {
                for (key, default, what) in ironlog::CANARY_SETTINGS {
                    println!("{key}={default}\n    {what}");
                }
                return Ok(());
            }
            let config = ironlog::CanaryConfig::load(
                config.as_deref(),
                std::env::vars_os(),
                &overrides,
                bootstrap_server.as_deref(),
            )
            .context("invalid canary configuration")?;
            ironlog::init_logging(false, None).context("cannot set up logging")?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .thread_name("ironlog-canary")
                .build()
                .context("cannot start the async runtime")?;
            runtime
                .block_on(ironlog::run_canary(config))
                .context("canary failed")
        }
    }
}

/// The configuration as the broker reads it: the file (or the embedded default), then
/// `IRONLOG_*` variables, then `--override`s; and the settings the environment gave.
fn load_config(
    file: Option<PathBuf>,
    overrides: Vec<String>,
) -> anyhow::Result<(BrokerConfig, Vec<ironlog_config::EnvOverride>)> {
    let from_env = overrides_from_env(std::env::vars_os()).context("invalid configuration")?;
    let overrides: Vec<String> = from_env
        .iter()
        .map(|setting| setting.as_override())
        .chain(overrides)
        .collect();
    let config =
        BrokerConfig::load(file.as_deref(), &overrides).context("invalid configuration")?;
    Ok((config, from_env))
}

/// The status code of `GET path` over HTTP/1.1 (the admin listener's probes need no more).
async fn http_status(host: &str, port: u16, path: &str) -> anyhow::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    // The status line is all that is needed; bounded read.
    let mut head = Vec::with_capacity(64);
    let mut chunk = [0u8; 64];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let status = line
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1."))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .with_context(|| format!("not an HTTP answer: {line:?}"))?;
    Ok(status)
}

async fn run_broker(config: BrokerConfig) -> anyhow::Result<()> {
    // Installed before start-up: a SIGTERM at any point after the "started" line (or
    // during start-up) is a clean shutdown, never the default kill.
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
    let mut running = ironlog::start(config)
        .await
        .context("broker start-up failed")?;
    // Machine-readable start-up lines on stdout (tests and scripts wait for them).
    for (name, address) in running.bound() {
        println!("ironlog: listener {name} bound to {address}");
    }
    println!("ironlog: started");
    tracing::info!(node_id = running.node_id(), "broker started");

    let fatal = tokio::select! {
        _ = term.recv() => { tracing::info!("SIGTERM received, shutting down"); None }
        _ = interrupt.recv() => { tracing::info!("interrupt received, shutting down"); None }
        reason = running.fatal_error() => Some(reason),
    };
    if let Some(reason) = fatal {
        tracing::error!(%reason, "stopping");
        running.shutdown().await.context("shutdown failed")?;
        anyhow::bail!("stopped: {reason}");
    }
    running.shutdown().await.context("clean shutdown failed")?;
    tracing::info!("broker stopped cleanly");
    Ok(())
}

/// Raises the soft open-files limit to the hard limit (as Kafka's packaging asks operators
/// to): the segment file cache and the connections share what the limit allows, and the
/// cache is sized from it at start-up (`log::capacity_for_limit`).
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-pointer for getrlimit/setrlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 || limit.rlim_cur >= limit.rlim_max
        {
            return;
        }
        let wanted = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
            tracing::warn!(
                soft = limit.rlim_cur,
                hard = limit.rlim_max,
                "cannot raise the open files limit"
            );
        }
    }
}
