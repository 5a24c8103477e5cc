//! The command line: `serve` (the default) and the operator's subcommands, which
//! call the same service operations as the admin API.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

use crate::audit::Actor;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::domain::client::ClientId;
use crate::domain::identity::IdentityNumber;
use crate::domain::operator::AdminScope;
use crate::domain::org::{Municipality, OrgNumber, OrgType};
use crate::policy::{table, PolicySource};
use crate::service::{
    parse_catalogue, Ask, NewClient, NewNetwork, NewOrg, OpenError, OrgRef, PupilRef, Services,
    DEFAULT_CATALOGUE,
};
use crate::startup::StartError;

#[derive(Debug, Parser)]
#[command(
    name = "samtykke",
    version,
    about = "Consent and data sharing for pupils followed up by a NAV tutor"
)]
pub struct Cli {
    /// Configuration file (default: ./samtykke.toml if present). SAMTYKKE_* variables override it.
    #[arg(short, long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the pupil pages and the APIs (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Organisations that may receive data.
    #[command(subcommand)]
    Org(OrgCmd),
    /// School networks: a school and the partners its pupils may choose among.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// The catalogue of organisation types, categories and purposes.
    #[command(subcommand)]
    Catalogue(CatalogueCmd),
    /// Agreement templates.
    #[command(subcommand)]
    Template(TemplateCmd),
    /// Partner clients.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Admin API credentials.
    #[command(subcommand)]
    AdminToken(AdminTokenCmd),
    /// Policy decisions: ask one question, or run the decision table.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// The keys samtykke signs access tokens and events with.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Demonstration and benchmark data.
    #[command(subcommand)]
    Demo(DemoCmd),
}

#[derive(Debug, Subcommand)]
pub enum DemoCmd {
    /// Add synthetic pupils with consents (synthetic identity numbers), spread over
    /// schools and municipalities, for benchmarks and capacity checks. Needs a
    /// published follow_up agreement (start once with demo data).
    Generate {
        /// How many pupils.
        /// How many pupils (at most a million: the synthetic numbers of ages 15-21).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        pupils: u32,
        /// Pupils per school.
        #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u32).range(50..=100_000))]
        per_school: u32,
        /// The same seed gives the same choices and states.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check every entry, the recorded end and every signed checkpoint; exits 1 and
    /// names the first entry that does not verify.
    Verify,
    /// Sign a checkpoint of the chain as it is now.
    Checkpoint,
    /// Check an exported range offline (no database): the JSON from
    /// GET /api/v1/audit/entries, and optionally a signed checkpoint (from POST
    /// /api/v1/audit/checkpoints) with the JWKS to check its signature against.
    VerifyExport {
        export: std::path::PathBuf,
        #[arg(long)]
        checkpoint: Option<std::path::PathBuf>,
        #[arg(long, requires = "checkpoint")]
        jwks: Option<std::path::PathBuf>,
    },
    /// Give a staff member a console role; their identity number is read from stdin.
    Grant {
        /// compliance_officer, tutor or admin.
        #[arg(long)]
        role: String,
        /// For a tutor: the school network they work in, by name.
        #[arg(long, requires = "name")]
        network: Option<String>,
        /// For a tutor: the name pupils choose them by ("Kari, NAV-veileder").
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Start signing with the next key now; the current one stays published until
    /// its tokens have expired. Running instances follow at once on PostgreSQL, and
    /// within ten minutes on SQLite (or use POST /api/v1/keys/rotate).
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// May this organisation receive this category of this pupil? Explains why.
    /// The identity number is read from standard input, never from the command line.
    Check {
        /// Organisation id or 9-digit organisation number.
        #[arg(long)]
        org: String,
        /// The pupil's pseudonymous id; without it the identity number is read from stdin.
        #[arg(long)]
        pupil_id: Option<Uuid>,
        #[arg(long)]
        category: String,
        #[arg(long, default_value = "read")]
        action: String,
        #[arg(long, default_value = "follow_up")]
        purpose: String,
    },
    /// Run the decision table (default policies/tests/decisions.csv) against the
    /// policy files and catalogue; exits 1 if any case fails.
    Test {
        #[arg(default_value = "policies/tests/decisions.csv")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCmd {
    /// Register an organisation.
    Add {
        #[arg(long)]
        name: String,
        /// 9-digit organisation number (mod-11 checked).
        #[arg(long)]
        number: String,
        /// Organisation type from the catalogue (school, ot, ppt, school_health, bup, child_welfare, nav_office, …).
        #[arg(long = "type")]
        org_type: String,
        /// The municipality it serves (four digits), for the services offered where a pupil lives.
        #[arg(long)]
        municipality: Option<String>,
    },
    /// List organisations.
    List,
    /// Disable an organisation: nobody can choose it any more.
    Disable { id: Uuid },
    /// Enable an organisation again.
    Enable { id: Uuid },
}

#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Create a network around a school.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        school: Uuid,
        #[arg(long = "member")]
        members: Vec<Uuid>,
        /// Who is responsible, as the network's agreement names them.
        #[arg(long)]
        controller: Option<String>,
        /// How pupils reach the data protection officer.
        #[arg(long)]
        dpo: Option<String>,
    },
    /// List networks with their members.
    List,
    /// Add an organisation to a network.
    AddMember { network: Uuid, org: Uuid },
}

#[derive(Debug, Subcommand)]
pub enum CatalogueCmd {
    /// Print the catalogue in force as JSON.
    Show,
    /// Validate a catalogue TOML file and store it as the next version.
    Load { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum TemplateCmd {
    /// List template versions.
    List,
    /// Publish a draft (it is immutable from then on).
    Publish { id: Uuid },
}

#[derive(Debug, Args)]
pub struct ClientAdd {
    #[arg(long)]
    pub client_id: String,
    #[arg(long)]
    pub org: Uuid,
    #[arg(long)]
    pub name: String,
    /// A scope the client may ask for, e.g. pupil:attendance:read (repeat).
    #[arg(long = "scope", required = true)]
    pub scopes: Vec<String>,
    /// A file with the client's public JWK set.
    #[arg(long, conflicts_with = "jwks_uri")]
    pub jwks_file: Option<PathBuf>,
    #[arg(long)]
    pub jwks_uri: Option<String>,
    #[arg(long)]
    pub webhook_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Register a partner client.
    Add(ClientAdd),
    /// List partner clients.
    List,
}

#[derive(Debug, Subcommand)]
pub enum AdminTokenCmd {
    /// Mint a new admin credential and print it once.
    Create {
        #[arg(long, default_value = "cli")]
        label: String,
        /// all, read (the admin API read-only, and /metrics) or metrics (/metrics only).
        #[arg(long, default_value = "all", value_parser = ["all", "read", "metrics"])]
        scope: String,
    },
    /// List admin credentials (never the tokens).
    List,
    /// Revoke an admin credential by id, at once.
    Revoke { id: String },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
    #[error("{0}")]
    Usage(String),
}

fn usage(e: impl ToString) -> CliError {
    CliError::Usage(e.to_string())
}

fn print_json<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

async fn services(config: &Config) -> Result<Services, CliError> {
    Ok(Services::open(config, Arc::new(SystemClock), false).await?)
}

/// What the command line does, it does as `cli` in the audit log.
const BY: &Actor = &Actor::Cli;

fn read_json(path: &std::path::Path) -> Result<serde_json::Value, CliError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| usage(format!("{}: {e}", path.display())))
}

/// Offline check of an exported range against an optional signed checkpoint.
fn verify_export(
    export: &std::path::Path,
    checkpoint: Option<&std::path::Path>,
    jwks: Option<&std::path::Path>,
) -> Result<(), CliError> {
    let e = read_json(export)?;
    let prev = e["prev_hash"]
        .as_str()
        .ok_or_else(|| usage("the export has no prev_hash"))?;
    let rows: Vec<crate::audit::Row> = serde_json::from_value(e["entries"].clone())
        .map_err(|e| usage(format!("the export's entries: {e}")))?;
    let cp = match checkpoint {
        Some(p) => {
            let v = read_json(p)?;
            if let Some(j) = jwks {
                let keys = read_json(j)?["keys"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let ring = crate::tokens::signing::KeyRing::new(None, keys).map_err(usage)?;
                let claims = ring
                    .verify(
                        v["jws"].as_str().unwrap_or_default(),
                        crate::service::CHECKPOINT_TYP,
                    )
                    .map_err(|e| usage(format!("the checkpoint's signature: {e}")))?;
                if claims["size"] != v["size"] || claims["head"] != v["head"] {
                    return Err(usage(
                        "the checkpoint's signature is for another size or head",
                    ));
                }
            }
            Some(
                serde_json::from_value::<crate::audit::Checkpoint>(v)
                    .map_err(|e| usage(format!("the checkpoint: {e}")))?,
            )
        }
        None => None,
    };
    let report = crate::audit::verify_range(prev, &rows, cp.as_ref());
    print_json(&report);
    match (&report.broken, report.verified) {
        (None, true) => Ok(()),
        (Some(b), _) => Err(usage(format!("the export does not verify: {b}"))),
        (None, false) => Err(usage("the checkpoint is outside the exported range")),
    }
}

/// Runs an operator command (anything but `serve`).
pub async fn run(config: Config, command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve => Err(usage("serve is run by the binary")),
        Command::Migrate => {
            crate::service::migrate(&config).await?;
            println!("migrations applied; schema is current");
            Ok(())
        }
        Command::Org(cmd) => org(&services(&config).await?, cmd).await,
        Command::Demo(DemoCmd::Generate {
            pupils,
            per_school,
            seed,
        }) => {
            // Generated records cannot be removed (the history is append-only):
            // only on a development machine, as for the demo data.
            if !config.is_development() {
                return Err(usage(
                    "demo generate runs only on a development machine (loopback, plain HTTP, no outside OpenID provider)",
                ));
            }
            let s = services(&config).await?;
            let spec = crate::service::GenerateSpec {
                pupils: pupils as usize,
                per_school: per_school as usize,
                seed,
            };
            let step = (spec.pupils / 20).max(1);
            let done = s
                .generate(&spec, |n| {
                    if n % step < 2_000 || n == spec.pupils {
                        eprintln!("{n} of {} pupils written", spec.pupils);
                    }
                })
                .await?;
            print_json(&done);
            Ok(())
        }
        Command::Network(cmd) => network(&services(&config).await?, cmd).await,
        Command::Catalogue(CatalogueCmd::Show) => {
            print_json(&*services(&config).await?.catalogue());
            Ok(())
        }
        Command::Catalogue(CatalogueCmd::Load { file }) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| usage(format!("{}: {e}", file.display())))?;
            let c = parse_catalogue(&text, &file.display().to_string())?;
            let v = services(&config).await?.replace_catalogue(c, BY).await?;
            println!("catalogue version {v} is in force");
            Ok(())
        }
        Command::Template(TemplateCmd::List) => {
            for t in services(&config).await?.templates().await? {
                println!(
                    "{}\t{}\tv{}\t{:?}\t{}",
                    t.id, t.key, t.version, t.status, t.content_hash
                );
            }
            Ok(())
        }
        Command::Template(TemplateCmd::Publish { id }) => {
            print_json(&services(&config).await?.publish_template(id, BY).await?);
            Ok(())
        }
        Command::Client(cmd) => client(&services(&config).await?, cmd).await,
        Command::Policy(PolicyCmd::Test { file }) => policy_test(&config, &file).await,
        Command::Audit(AuditCmd::Verify) => {
            let report = services(&config).await?.verify_chain().await?;
            print_json(&report);
            match report.broken {
                None => Ok(()),
                Some(b) => Err(CliError::Usage(format!(
                    "the audit log does not verify: {b}"
                ))),
            }
        }
        Command::Audit(AuditCmd::VerifyExport {
            export,
            checkpoint,
            jwks,
        }) => verify_export(&export, checkpoint.as_deref(), jwks.as_deref()),
        Command::Audit(AuditCmd::Grant {
            role,
            network,
            name,
        }) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(usage)?;
            let n = crate::domain::identity::IdentityNumber::parse(line.trim())
                .map_err(|e| usage(format!("identity number on stdin: {e}")))?;
            let s = services(&config).await?;
            let network = match network {
                Some(name) => Some(s.network_by_name(&name).await?.id),
                None => None,
            };
            let name = name.unwrap_or_default();
            s.grant_role(&n, &role, network.map(|id| (id, name.as_str())), BY)
                .await?;
            println!("role {role} granted");
            Ok(())
        }
        Command::Audit(AuditCmd::Checkpoint) => {
            let s = services(&config).await?;
            s.load_keys().await?;
            print_json(&s.checkpoint().await?.0);
            Ok(())
        }
        Command::Keys(KeysCmd::Rotate) => {
            let s = services(&config).await?;
            s.load_keys().await?;
            println!("signing with key {}", s.rotate_keys(BY).await?);
            Ok(())
        }
        Command::Policy(PolicyCmd::Check {
            org,
            pupil_id,
            category,
            action,
            purpose,
        }) => {
            let org = match Uuid::parse_str(&org) {
                Ok(id) => OrgRef::Id(id),
                Err(_) => OrgRef::Number(
                    OrgNumber::parse(&org).map_err(|e| usage(format!("--org: {e}")))?,
                ),
            };
            let pupil = match pupil_id {
                Some(id) => PupilRef::Id(id),
                None => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).map_err(usage)?;
                    PupilRef::Identity(
                        IdentityNumber::parse(line.trim())
                            .map_err(|e| usage(format!("identity number on stdin: {e}")))?,
                    )
                }
            };
            let ask = Ask {
                org,
                pupil,
                category,
                action,
                purpose,
                holder: None,
            };
            let answer = services(&config)
                .await?
                .evaluate(BY, None, &ask, None)
                .await?;
            print_json(&answer.decision);
            Ok(())
        }
        Command::AdminToken(AdminTokenCmd::Create { label, scope }) => {
            let scope = AdminScope::from_stored(&scope);
            let (_, token) = services(&config)
                .await?
                .create_admin_credential(&label, scope, BY)
                .await?;
            println!("{token}");
            Ok(())
        }
        Command::AdminToken(AdminTokenCmd::List) => {
            print_json(&services(&config).await?.admin_credentials().await?);
            Ok(())
        }
        Command::AdminToken(AdminTokenCmd::Revoke { id }) => {
            let s = services(&config).await?;
            print_json(&s.revoke_admin_credential(&id, BY).await?);
            Ok(())
        }
    }
}

async fn org(s: &Services, cmd: OrgCmd) -> Result<(), CliError> {
    match cmd {
        OrgCmd::Add {
            name,
            number,
            org_type,
            municipality,
        } => {
            let number = OrgNumber::parse(&number).map_err(|e| usage(format!("--number: {e}")))?;
            let org_type = OrgType::parse(&org_type).map_err(|e| usage(format!("--type: {e}")))?;
            let municipality = municipality
                .as_deref()
                .map(Municipality::parse)
                .transpose()
                .map_err(|e| usage(format!("--municipality: {e}")))?;
            print_json(
                &s.add_org(
                    NewOrg {
                        name,
                        number,
                        org_type,
                        municipality,
                    },
                    BY,
                )
                .await?,
            );
        }
        OrgCmd::List => {
            for o in s.orgs().await? {
                let state = if o.enabled { "enabled" } else { "disabled" };
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    o.id, o.number, o.org_type, state, o.name
                );
            }
        }
        OrgCmd::Disable { id } => print_json(&s.set_org_enabled(id, false, BY).await?),
        OrgCmd::Enable { id } => print_json(&s.set_org_enabled(id, true, BY).await?),
    }
    Ok(())
}

async fn network(s: &Services, cmd: NetworkCmd) -> Result<(), CliError> {
    match cmd {
        NetworkCmd::Add {
            name,
            school,
            members,
            controller,
            dpo,
        } => print_json(
            &s.add_network(
                NewNetwork {
                    name,
                    school_id: school,
                    member_ids: members,
                    controller,
                    dpo,
                },
                BY,
            )
            .await?,
        ),
        NetworkCmd::List => print_json(&s.networks().await?),
        NetworkCmd::AddMember { network, org } => {
            print_json(&s.add_network_member(network, org, BY).await?)
        }
    }
    Ok(())
}

async fn client(s: &Services, cmd: ClientCmd) -> Result<(), CliError> {
    match cmd {
        ClientCmd::Add(a) => {
            let jwks = match &a.jwks_file {
                Some(p) => {
                    let text = std::fs::read_to_string(p)
                        .map_err(|e| usage(format!("{}: {e}", p.display())))?;
                    Some(
                        serde_json::from_str(&text)
                            .map_err(|e| usage(format!("{}: {e}", p.display())))?,
                    )
                }
                None => None,
            };
            let new = NewClient {
                client_id: ClientId::parse(&a.client_id)
                    .map_err(|e| usage(format!("--client-id: {e}")))?,
                org_id: a.org,
                name: a.name,
                scopes: a.scopes,
                jwks,
                jwks_uri: a.jwks_uri,
                webhook_url: a.webhook_url,
            };
            print_json(&s.add_client(new, BY).await?);
        }
        ClientCmd::List => {
            for c in s.clients().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    c.client_id,
                    c.org_id,
                    c.scopes.join(" "),
                    c.name
                );
            }
        }
    }
    Ok(())
}

/// Runs the decision table against the policy files and the catalogue (the
/// configured catalogue file, or the built-in one); needs no database.
async fn policy_test(config: &Config, file: &std::path::Path) -> Result<(), CliError> {
    let text =
        std::fs::read_to_string(file).map_err(|e| usage(format!("{}: {e}", file.display())))?;
    let cases = table::parse(&text).map_err(|e| usage(format!("{}: {e}", file.display())))?;
    let catalogue = match &config.settings.catalogue_file {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| usage(format!("{}: {e}", p.display())))?;
            parse_catalogue(&text, &p.display().to_string())?
        }
        None => parse_catalogue(DEFAULT_CATALOGUE, "policies/catalogue.toml")?,
    };
    let source = PolicySource::from_dir(&config.settings.policy_dir);
    let (model, rules) = source.read().map_err(usage)?;
    let baseline = crate::policy::baseline::BaselineTable::build(&model, rules, &catalogue)
        .await
        .map_err(usage)?;
    let outcomes = table::run(&cases, &baseline, &catalogue);
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed()).collect();
    for o in &failed {
        let c = &o.case;
        println!(
            "FAIL line {}: {}{} {} {} {} with consent {} at {}: expected {}{}, got {} ({})",
            c.line,
            c.discloser
                .as_ref()
                .map(|(d, _)| format!("{} → ", d.org_type))
                .unwrap_or_default(),
            c.recipient.org_type,
            c.category,
            c.action.as_str(),
            c.purpose,
            c.consent,
            c.age_at_grant,
            if c.expected { "allow" } else { "deny" },
            c.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            if o.allowed { "allow" } else { "deny" },
            o.reason.as_str(),
        );
    }
    println!(
        "policy: {} passed, {} failed",
        outcomes.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "{} decision(s) differ from {}",
            failed.len(),
            file.display()
        )))
    }
}
