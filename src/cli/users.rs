//! `rajoints users`: accounts of the review UI (DATA/users.json).

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use snafu::{ResultExt, Whatever};

use super::CommonArgs;
use rajoints::web::audit::{Audit, Entry};
use rajoints::web::auth::{Role, Users};

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    action: Action,
    /// The node's data folder (node.data_dir) [default: var/rajoints].
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Add an account. The password is read from standard input (one line), so that it
    /// stays out of the shell history and the process list.
    Add {
        name: String,
        /// annotator: saves annotations; reviewer: also signs off (VERIFIED SR) and sees
        /// others' work; admin: also reads the audit log.
        #[arg(long, value_enum)]
        role: Role,
        /// The person's name as a DICOM PN, e.g. `Doe^Jane` (the Verifying Observer Name of
        /// signed-off reports; else the account name is used).
        #[arg(long, value_name = "PN")]
        full_name: Option<String>,
    },
    /// Set a new password (read from standard input).
    Passwd { name: String },
    /// Remove an account.
    Remove { name: String },
    /// List the accounts and their roles.
    List,
}

fn read_password() -> Result<String, Whatever> {
    if std::io::stdin().is_terminal() {
        eprint!("password (shown as typed; at least 8 characters): ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .whatever_context("could not read the password from standard input")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn run(args: UsersArgs) -> Result<ExitCode, Whatever> {
    let mut extra = Vec::new();
    if let Some(d) = &args.data_dir {
        extra.push(("node.data_dir", d.display().to_string()));
    }
    let cfg = args.common.load(&extra)?;
    let dir = rajoints::node::resolve_data_dir(&cfg);
    let users = Users::new(&dir);
    let audit = Audit::new(&dir);
    let log = |action: &str, name: &str, detail: serde_json::Value| {
        let _ = std::fs::create_dir_all(&dir);
        audit.write(&Entry {
            time: rajoints::dicom::sr::Timestamp::now().rfc3339(),
            user: "(command line)",
            action,
            film: None,
            detail: serde_json::json!({"account": name, "detail": detail}),
        })
    };
    match args.action {
        Action::Add {
            name,
            role,
            full_name,
        } => {
            let pw = read_password()?;
            users
                .add(&name, role, full_name.as_deref(), &pw)
                .with_whatever_context(|_| format!("could not add user {name}"))?;
            log("user_add", &name, serde_json::json!({"role": role}))
                .whatever_context("could not write the audit log")?;
            println!("added {name} ({})", role.as_str());
        }
        Action::Passwd { name } => {
            let pw = read_password()?;
            users
                .set_password(&name, &pw)
                .with_whatever_context(|_| format!("could not set the password of {name}"))?;
            log("user_password", &name, serde_json::Value::Null)
                .whatever_context("could not write the audit log")?;
            println!("password of {name} changed (its open sessions end)");
        }
        Action::Remove { name } => {
            users
                .remove(&name)
                .with_whatever_context(|_| format!("could not remove user {name}"))?;
            log("user_remove", &name, serde_json::Value::Null)
                .whatever_context("could not write the audit log")?;
            println!("removed {name}");
        }
        Action::List => {
            for u in users
                .load()
                .whatever_context("could not read the accounts")?
            {
                println!(
                    "{}\t{}\t{}",
                    u.name,
                    u.role.as_str(),
                    u.full_name.unwrap_or_default()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
