//! The `dongxi` command: parses arguments, builds the state, dispatches. Nothing else.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dongxi::clock::Clock;
use dongxi::config::Config;
use dongxi::identity::service::{NewUser, create_user_unchecked};
use dongxi::identity::types::{Email, Password, Role};
use dongxi::{demo, server, telemetry};

#[derive(Parser)]
#[command(name = "dongxi", version, about = "东西 Dongxi: east–west consumption assistance")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations and serve HTTP until SIGTERM or Ctrl-C.
    Serve {
        /// Seed demo organisations and users on an empty database and print the logins.
        #[arg(long)]
        demo: bool,
        /// Do not apply migrations at start-up (run `dongxi migrate` first).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply database migrations and load the national region list.
    Migrate,
    /// Load the demo data into an empty database.
    SeedDemo,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user in an existing organisation.
    Create {
        #[arg(long)]
        email: String,
        /// At least 10 characters. Prefer the DONGXI_USER_PASSWORD variable, which stays out of the shell history.
        #[arg(long, env = "DONGXI_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// Organisation id.
        #[arg(long)]
        org: String,
        #[arg(long, value_parser = ["admin", "member"], default_value = "member")]
        role: String,
        #[arg(long)]
        name: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dongxi: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dongxi: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dongxi: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let clock = Clock::system();
    match command {
        Command::Serve { demo, no_migrate } => {
            let database = server::prepare(&config, &clock, !no_migrate)?;
            let mut show_demo = false;
            if demo {
                let mut conn = database.get()?;
                match demo::seed(&mut conn, &clock)? {
                    demo::DemoSeed::Seeded => {
                        tracing::info!("demo data seeded");
                        show_demo = true;
                    }
                    demo::DemoSeed::AlreadyThere => show_demo = true,
                    demo::DemoSeed::Refused => eprintln!(
                        "dongxi: --demo ignored: this database already holds real organisations; use an empty DONGXI_DATA_DIR"
                    ),
                }
            }
            server::serve(config, database, clock, show_demo).await
        }
        Command::Migrate => {
            let database = dongxi::db::Db::connect(&config.database_url, 1)?;
            std::fs::create_dir_all(&config.data_dir)?;
            let mut conn = database.get()?;
            let (applied, regions) = server::migrate(&mut conn, &clock)?;
            println!("migrations applied: {applied}; regions added: {regions}");
            Ok(())
        }
        Command::SeedDemo => {
            let database = server::prepare(&config, &clock, true)?;
            let mut conn = database.get()?;
            match demo::seed(&mut conn, &clock)? {
                demo::DemoSeed::Seeded => println!("{}", demo::banner(&format!("http://{}", config.bind))),
                demo::DemoSeed::AlreadyThere => println!("demo data is already loaded"),
                demo::DemoSeed::Refused => {
                    anyhow::bail!("this database already holds real organisations; demo data is not mixed in")
                }
            }
            Ok(())
        }
        Command::User { command: UserCommand::Create { email, password, org, role, name } } => {
            let database = server::prepare(&config, &clock, true)?;
            let mut conn = database.get()?;
            let email = Email::parse(&email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
            let password = Password::parse(&password)
                .map_err(|_| anyhow::anyhow!("--password must have at least 10 characters"))?;
            let role = if role == "admin" { Role::Admin } else { Role::Member };
            dongxi::identity::model::find_org(&mut conn, &org)?
                .ok_or_else(|| anyhow::anyhow!("--org: no organisation {org}"))?;
            let name = name.unwrap_or_else(|| email.as_str().split('@').next().unwrap_or_default().to_owned());
            let user =
                create_user_unchecked(&mut conn, &org, &NewUser { email, name, password, role }, clock.now_naive())?;
            println!("created user {} <{}> ({}) in {}", user.id, user.email, user.role.as_str(), user.organization_id);
            Ok(())
        }
    }
}
