//! `ironlog-operator`: the operator's command line.
//!
//! - `ironlog-operator run [--namespace NS] [--kafka-bootstrap HOST:PORT]`: the KafkaCluster,
//!   Topic, User and Connector controllers, with the in-cluster config or `KUBECONFIG`, until SIGTERM or SIGINT.
//! - `ironlog-operator crds [--dir DIR]`: the CRD manifests, to stdout as one YAML stream, or
//!   one file per CRD into DIR (how `crds/` is made).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ironlog-operator",
    version,
    about = "The Ironlog Kubernetes operator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controllers.
    Run {
        /// Watch only this namespace (default: every namespace).
        #[arg(long)]
        namespace: Option<String>,
        /// Reach every cluster's brokers at this bootstrap address instead of the one in
        /// its status (an operator running outside the Kubernetes cluster).
        #[arg(long)]
        kafka_bootstrap: Option<String>,
        /// Where `/metrics` and `/health` are served.
        #[arg(long, default_value = "0.0.0.0:8080")]
        metrics_address: std::net::SocketAddr,
    },
    /// Print the CRD manifests (or write one file per CRD into --dir).
    Crds {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            namespace,
            kafka_bootstrap,
            metrics_address,
        } => run(namespace, kafka_bootstrap, metrics_address),
        Command::Crds { dir } => write_crds(dir),
    }
}

fn run(
    namespace: Option<String>,
    kafka_bootstrap: Option<String>,
    metrics_address: std::net::SocketAddr,
) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let client = kube::Client::try_default()
            .await
            .context("no Kubernetes client configuration (in-cluster or KUBECONFIG)")?;
        let metrics = ironlog_operator::metrics::Metrics::new()
            .context("cannot register the operator's metrics")?;
        let listener = ironlog_operator::metrics::bind(metrics_address)
            .await
            .with_context(|| format!("cannot bind the metrics listener {metrics_address}"))?;
        tracing::info!(address = %metrics_address, "serving /metrics and /health");
        let served = std::sync::Arc::clone(&metrics);
        tokio::spawn(async move {
            if let Err(e) = ironlog_operator::metrics::serve(listener, served).await {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("cannot listen for SIGTERM")?;
        let shutdown = futures::FutureExt::shared(Box::pin(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            tracing::info!("shutting down");
        }));
        tracing::info!(
            namespace = namespace.as_deref().unwrap_or("<all>"),
            "starting the controllers"
        );
        tokio::join!(
            ironlog_operator::cluster::reconcile::run(
                client.clone(),
                namespace.clone(),
                std::sync::Arc::clone(&metrics),
                shutdown.clone()
            ),
            ironlog_operator::topic::reconcile::run(
                client.clone(),
                namespace.clone(),
                kafka_bootstrap.clone(),
                std::sync::Arc::clone(&metrics),
                shutdown.clone()
            ),
            ironlog_operator::user::reconcile::run(
                client.clone(),
                namespace.clone(),
                kafka_bootstrap,
                std::sync::Arc::clone(&metrics),
                shutdown.clone()
            ),
            ironlog_operator::connector::reconcile::run(client, namespace, metrics, shutdown),
        );
        Ok(())
    })
}

fn write_crds(dir: Option<PathBuf>) -> anyhow::Result<()> {
    let files = ironlog_operator::crd::crds_yaml().context("cannot render the CRDs as YAML")?;
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (name, yaml) in files {
                let path = dir.join(name);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("wrote {}", path.display());
            }
        }
        None => {
            let stream: Vec<String> = files.into_iter().map(|(_, yaml)| yaml).collect();
            print!("{}", stream.join("---\n"));
        }
    }
    Ok(())
}
