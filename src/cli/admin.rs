//! `stratus admin grant|revoke NAME`.

use std::process::ExitCode;

use clap::Subcommand;
use stratus::Settings;

use super::fail;

#[derive(Subcommand)]
pub enum AdminAction {
    /// Make the registered user NAME an admin.
    Grant { name: String },
    /// Take the admin role from NAME.
    Revoke { name: String },
}

/// `stratus admin grant|revoke NAME`: only the database is opened.
pub async fn run(settings: &Settings, action: AdminAction) -> ExitCode {
    let (name, grant) = match &action {
        AdminAction::Grant { name } => (name, true),
        AdminAction::Revoke { name } => (name, false),
    };
    let Some(username) = stratus::domain::Username::parse(name) else {
        return fail(format!("{name:?} is not a username: {}", stratus::domain::Username::RULE));
    };
    let repo = match stratus::state::open_database(settings).await {
        Ok(repo) => repo,
        Err(e) => return fail(e),
    };
    match stratus::service::Accounts::set_admin_in(repo.as_ref(), &username, grant).await {
        Ok(true) if grant => {
            println!("{username} is now an admin");
            ExitCode::SUCCESS
        }
        Ok(true) => {
            println!("{username} is no longer an admin");
            ExitCode::SUCCESS
        }
        Ok(false) => fail(format!("no user named \"{username}\": register the account first, then run this again")),
        Err(e) => {
            let cause = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
            fail(format!("{e}{cause}"))
        }
    }
}
