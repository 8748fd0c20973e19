//! `ironlog-operator`: the operator's command line.
//!
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
    /// Print the CRD manifests (or write one file per CRD into --dir).
    Crds {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds { dir } => write_crds(dir),
    }
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
