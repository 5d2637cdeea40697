//! Building and running the application from [`Settings`]: load the policy, connect the adapters,
//! bind the listener (port 0 in tests), and the operators' listener when `admin_listen` is set,
//! and serve until SIGINT/SIGTERM, finishing in-flight requests before exiting. Shutdown stops accepting connections, lets in-flight requests finish,
//! waits for mint tasks whose requests are already gone, then stops the reconciler (releasing
//! its lease so another replica takes over at once).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatekey_app::reconciler::{Reconciler, ReconcilerParts};
use gatekey_app::revocations::{RevocationWorker, WorkerParts};
use gatekey_app::{App, AppParts, Gateway, RevisionInForce};
use gatekey_auth::{TokenVerifier, UserinfoGroups, UserinfoIssuer, VerifierConfig};
use gatekey_catalog::{CatalogClient, CatalogConfig, CatalogRules, CatalogSource};
use gatekey_core::policy::Policy;
use gatekey_core::{Clock, SystemClock};
use gatekey_kong::{AdminAuth, CounterPolicy, KongClient, KongConfig, RedisCounters};
use gatekey_store::{Store, StoreConfig};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::catalog::refresh_forever;
use crate::config::{CatalogSettings, CounterPolicyName, IngestSettings, Settings};
use crate::ingest_secret::{IngestSecretError, IngestSecrets};
use crate::policy::{PolicyHolder, record_loads};
use crate::policy_file::{FileRead, PolicyFile, PolicyFileError, watch_forever};
use crate::proxy_secret::{ProxySecretError, ProxySecrets};
use crate::routes;
use crate::routes::ingest::IngestEndpoint;
use crate::secret_file::{FileError, read_file, read_secret_file};
use crate::state::{AppState, AppStateInner, CatalogHandle};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    PolicyFile(#[from] PolicyFileError),
    #[error("Backstage catalog: {0}")]
    Catalog(#[from] gatekey_catalog::CatalogError),
    #[error("gateway.allowed_urls: {0}")]
    GatewayAllowList(gatekey_core::gateway::GatewayUrlError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("token verification: {0}")]
    Auth(String),
    #[error("kong.rate_limiting.policy is redis but kong.rate_limiting.redis is not set")]
    RedisSettingsMissing,
    #[error(transparent)]
    ProxySecret(#[from] ProxySecretError),
    #[error(transparent)]
    IngestSecret(#[from] IngestSecretError),
    #[error("plain http refused:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    InsecureHttp(Vec<String>),
    #[error("kong.admin_url is not a URL: {0}")]
    KongUrl(String),
    #[error("Kong client: {0}")]
    Kong(#[from] gatekey_kong::KongError),
    #[error("MongoDB: {0}")]
    Store(#[from] gatekey_store::StoreError),
    #[error("cannot build HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A built application with a bound listener, ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    local_addr: SocketAddr,
    /// The `admin_listen` listener and what it serves, when configured.
    admin: Option<AdminListener>,
    state: AppState,
    reconciler: Option<Reconciler>,
    revocation_worker: Option<RevocationWorker>,
    catalog: Option<CatalogSource>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

/// The operators' listener (`admin_listen`): `/metrics`, the probes and the ingest of Kong's
/// `http-log` entries.
#[derive(Debug)]
struct AdminListener {
    listener: TcpListener,
    router: axum::Router,
    local_addr: SocketAddr,
}

impl AdminListener {
    async fn bind(
        addr: SocketAddr,
        state: &AppState,
        ingest: Option<IngestEndpoint>,
    ) -> Result<Self, StartupError> {
        let (listener, local_addr) = bind(addr).await?;
        Ok(Self {
            listener,
            router: routes::admin_router(state.clone(), ingest),
            local_addr,
        })
    }
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartupError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| StartupError::Bind { addr, source })?;
    Ok((listener, local_addr))
}

/// Reads and validates the policy file named in the settings, as startup and every reload do
/// ([`PolicyFile::read`]).
pub fn load_policy(settings: &Settings) -> Result<Policy, StartupError> {
    Ok(PolicyFile::from_settings(settings)?.read_now()?)
}

/// The policy holder, starting with the file read at startup, and its tasks: the recorder of
/// `policy_load` events and the watch of the file (polling and SIGHUP).
fn policy_in_force(
    settings: &Settings,
    file: PolicyFile,
    started_with: FileRead,
    revision_in_force: RevisionInForce,
    app: &App,
    clock: &Arc<dyn Clock>,
) -> (Arc<PolicyHolder>, Vec<tokio::task::JoinHandle<()>>) {
    let (loads, loaded) = tokio::sync::mpsc::unbounded_channel();
    let policy = Arc::new(PolicyHolder::new(
        started_with.policy.clone(),
        revision_in_force,
        loads,
        Arc::clone(clock),
    ));
    let tasks = vec![
        tokio::spawn(record_loads(loaded, app.audit.clone())),
        tokio::spawn(watch_forever(
            file,
            Arc::clone(&policy),
            settings.policy_poll_interval(),
            started_with,
        )),
    ];
    (policy, tasks)
}

fn kong_client(settings: &Settings) -> Result<KongClient, StartupError> {
    let kong = &settings.kong;
    let token = match (&kong.admin_token, &kong.admin_token_file) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(file)) => Some(read_secret_file("Kong admin token file", file)?),
        (None, None) => None,
    };
    let admin_auth = kong
        .admin_token_header
        .clone()
        .zip(token)
        .map(|(header, token)| AdminAuth { header, token });
    let config = KongConfig {
        admin_url: kong
            .admin_url
            .parse()
            .map_err(|e| StartupError::KongUrl(format!("{}: {e}", kong.admin_url)))?,
        request_timeout: Duration::from_millis(kong.request_timeout_ms),
        connect_timeout: Duration::from_millis(kong.connect_timeout_ms),
        admin_auth,
        ca_cert_pem: kong
            .ca_cert_file
            .as_deref()
            .map(|p| read_file("Kong CA certificate", p))
            .transpose()?,
        client_identity_pem: kong
            .client_identity_file
            .as_deref()
            .map(|p| read_file("Kong client identity", p))
            .transpose()?,
        max_retries: kong.max_retries,
    };
    Ok(KongClient::new(&config)?)
}

/// Kong's counter policy for credential rate limits, with the Redis password read from its file.
/// The application services, on the same store, Kong and clock as the HTTP state.
fn services(
    settings: &Settings,
    store: &Store,
    kong: &KongClient,
    clock: &Arc<dyn Clock>,
    policy_revision: &RevisionInForce,
) -> Result<App, StartupError> {
    Ok(App::new(AppParts {
        store: store.clone(),
        gateway: Gateway {
            kong: kong.clone(),
            counter_policy: counter_policy(settings)?,
        },
        clock: Arc::clone(clock),
        limits: &settings.limits,
        audit: &settings.audit,
        mint_deadline: settings.request_timeout(),
        policy_revision: policy_revision.clone(),
        ingest: settings
            .ingest
            .as_ref()
            .map(IngestSettings::capacity)
            .unwrap_or_default(),
    }))
}

fn counter_policy(settings: &Settings) -> Result<CounterPolicy, StartupError> {
    let rate_limiting = &settings.kong.rate_limiting;
    Ok(match (rate_limiting.policy, &rate_limiting.redis) {
        (CounterPolicyName::Local, _) => CounterPolicy::Local,
        (CounterPolicyName::Cluster, _) => CounterPolicy::Cluster,
        (CounterPolicyName::Redis, redis) => {
            // Validated with the settings: `redis` is present.
            let redis = redis.as_ref().ok_or(StartupError::RedisSettingsMissing)?;
            let password = match (&redis.password, &redis.password_file) {
                (Some(password), _) => Some(password.clone()),
                (None, Some(file)) => Some(read_secret_file("Redis password file", file)?),
                (None, None) => None,
            };
            CounterPolicy::Redis(RedisCounters {
                host: redis.host.clone(),
                port: redis.port,
                username: redis.username.clone(),
                password,
                database: redis.database,
                timeout_ms: redis.timeout_ms,
                ssl: redis.ssl,
                ssl_verify: redis.ssl_verify,
                server_name: redis.server_name.clone(),
            })
        }
    })
}

/// The ingest of Kong's `http-log` entries, when configured, with its secrets read.
fn ingest_endpoint(settings: &Settings) -> Result<Option<IngestEndpoint>, StartupError> {
    let Some(ingest) = &settings.ingest else {
        return Ok(None);
    };
    Ok(Some(IngestEndpoint {
        secrets: IngestSecrets::from_settings(ingest)?,
        body_limit_bytes: ingest.body_limit_bytes,
        max_entries: ingest.max_entries,
    }))
}

/// For discovery, JWKS and userinfo: no redirects, and `https` only unless
/// `allow_insecure_http`, which also covers the URLs a discovery document names.
fn issuer_http_client(settings: &Settings) -> Result<reqwest::Client, StartupError> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .https_only(!settings.allow_insecure_http)
        .build()?)
}

/// Userinfo lookups for the issuers with `groups_from_userinfo`.
fn userinfo_groups(settings: &Settings) -> Result<UserinfoGroups, StartupError> {
    let issuers = settings
        .auth
        .issuers
        .iter()
        .filter(|issuer| issuer.groups_from_userinfo)
        .map(|issuer| UserinfoIssuer {
            name: issuer.name.clone(),
            issuer: issuer.issuer.clone(),
            groups_claims: issuer.groups_claims.clone(),
            group_prefix: issuer.group_prefix.clone(),
        })
        .collect();
    Ok(UserinfoGroups::new(issuers, &issuer_http_client(settings)?))
}

/// The catalog source with the rules that admit its entities: the gateway allow-list, the
/// namespace and owner restrictions, and the policy file's ids (the file wins).
fn catalog_source(
    catalog: &CatalogSettings,
    settings: &Settings,
    file: &Policy,
) -> Result<CatalogSource, StartupError> {
    let token = match (&catalog.token, &catalog.token_file) {
        (Some(token), _) => token.clone(),
        (None, Some(file)) => read_secret_file("Backstage catalog token file", file)?,
        (None, None) => SecretString::from(String::new()),
    };
    let client = CatalogClient::new(&CatalogConfig {
        backend_url: catalog.backend_url.parse().map_err(|e| {
            gatekey_catalog::CatalogError::Config(format!("{}: {e}", catalog.backend_url))
        })?,
        token,
        page_size: catalog.page_size,
        request_timeout: Duration::from_secs(catalog.request_timeout_seconds),
    })?;
    let lowercased = |values: &[String]| values.iter().map(|v| v.to_lowercase()).collect();
    let rules = CatalogRules {
        gateways: settings
            .gateway
            .allow_list()
            .map_err(StartupError::GatewayAllowList)?,
        allowed_namespaces: lowercased(&catalog.allowed_namespaces),
        allowed_owners: lowercased(&catalog.allowed_owners),
        policy_file_ids: file.apis().map(|api| api.id.clone()).collect(),
        group_prefixes: settings.auth.group_prefixes(),
    };
    Ok(CatalogSource::new(client, rules))
}

/// The token verifier of the configured issuers; nothing is fetched until the first token.
/// `gatekey check-config` builds it too, so it reports what the verifier would refuse.
pub fn verifier(settings: &Settings) -> Result<TokenVerifier, StartupError> {
    let http = issuer_http_client(settings)?;
    let config = VerifierConfig {
        issuers: settings.auth.issuers.clone(),
        clock_skew: Duration::from_secs(settings.auth.clock_skew_seconds),
        jwks_refresh_min_interval: Duration::from_secs(
            settings.auth.jwks_refresh_min_interval_seconds,
        ),
        jwks_max_age: Duration::from_secs(settings.auth.jwks_max_age_seconds),
        ..VerifierConfig::default()
    };
    TokenVerifier::new(config, &http).map_err(|e| StartupError::Auth(e.to_string()))
}

impl Application {
    /// Loads the policy, connects MongoDB (creating indexes), builds the Kong client and token
    /// verifier, and binds the listeners.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        // Settings built in code skip `Settings::load`; transport security is checked anyway.
        let insecure = settings.insecure_http_problems();
        if !insecure.is_empty() {
            return Err(StartupError::InsecureHttp(insecure));
        }
        // Installed before the adapters start emitting (discovery, index creation).
        crate::metrics::handle();
        let policy_file = PolicyFile::from_settings(settings)?;
        let started_with = policy_file.read().await?;
        let file_policy = &started_with.policy;
        let kong = kong_client(settings)?;
        let verifier = verifier(settings)?;
        let userinfo = userinfo_groups(settings)?;
        let proxy_secrets = ProxySecrets::from_settings(settings)?;
        let catalog = settings
            .catalog
            .as_ref()
            .map(|catalog| {
                catalog_source(catalog, settings, file_policy).map(|source| CatalogHandle {
                    source,
                    max_staleness: catalog.max_staleness_seconds.map(Duration::from_secs),
                })
            })
            .transpose()?;
        let store = Store::connect(&StoreConfig {
            uri: settings.mongodb.uri.clone(),
            database: settings.mongodb.database.clone(),
            issuance_retention_days: settings.mongodb.issuance_retention_days,
            audit_retention_days: settings.mongodb.audit_retention_days,
            usage_retention_days: settings.mongodb.usage_retention_days,
        })
        .await?;
        store.ensure_indexes().await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let revision_in_force = RevisionInForce::default();
        let app = services(settings, &store, &kong, &clock, &revision_in_force)?;
        let (policy, mut background) = policy_in_force(
            settings,
            policy_file,
            started_with,
            revision_in_force,
            &app,
            &clock,
        );
        // Not awaited: Backstage being down must not stop Gatekey; `/readyz` says when it loaded.
        background.extend(settings.catalog.as_ref().zip(catalog.as_ref()).map(
            |(settings, handle)| {
                tokio::spawn(refresh_forever(
                    handle.source.clone(),
                    kong.clone(),
                    Arc::clone(&policy),
                    Duration::from_secs(settings.refresh_interval_seconds),
                ))
            },
        ));
        let catalog_source = catalog.as_ref().map(|handle| handle.source.clone());
        let state = AppState::new(AppStateInner {
            policy,
            policy_file: settings.policy_file.clone(),
            verifier,
            userinfo,
            proxy_secrets,
            catalog,
            kong,
            store,
            clock,
            app,
        });
        let (reconciler, revocation_worker) = workers(settings, &state);
        let router = routes::router(
            state.clone(),
            settings.request_timeout(),
            settings.http.body_limit_bytes,
            settings.http.header_limit_bytes,
            settings.admin_listen.is_none(),
        );
        let (listener, local_addr) = bind(settings.listen).await?;
        let ingest = ingest_endpoint(settings)?;
        let admin = match settings.admin_listen {
            Some(addr) => Some(AdminListener::bind(addr, &state, ingest).await?),
            None => None,
        };
        Ok(Self {
            listener,
            router,
            local_addr,
            admin,
            state,
            reconciler,
            revocation_worker,
            catalog: catalog_source,
            background,
        })
    }

    /// The Backstage catalog source, when configured: its age and skip counters.
    pub fn catalog(&self) -> Option<&CatalogSource> {
        self.catalog.as_ref()
    }

    /// The bound address (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound address of the `admin_listen` listener, when configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|admin| admin.local_addr)
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let upkeep = crate::metrics::spawn_upkeep();
        let (stop_reconciler, stopped) = tokio::sync::watch::channel(false);
        let revocation_worker = self
            .revocation_worker
            .map(|worker| tokio::spawn(worker.run(stopped.clone())));
        let reconciler = self
            .reconciler
            .map(|reconciler| tokio::spawn(reconciler.run(stopped)));
        let stop_serving = CancellationToken::new();
        let admin = self.admin.map(|admin| {
            tokio::spawn(
                axum::serve(
                    admin.listener,
                    admin
                        .router
                        .into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(stop_serving.clone().cancelled_owned())
                .into_future(),
            )
        });
        let main_stopped = stop_serving.clone();
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            main_stopped.cancel();
        })
        .await;
        // The main listener can also stop on an accept error: the admin listener stops with it.
        stop_serving.cancel();
        if let Some(admin) = admin {
            match admin.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::error!(error = %err, "admin listener failed"),
                Err(err) => tracing::error!(error = %err, "admin listener task failed"),
            }
        }
        // Mints whose requests were dropped still finish or roll back before the process ends;
        // each is bounded by its own deadline plus the rollback's Kong and MongoDB calls.
        let minter = &self.state.app.minter;
        let mint_tasks = minter.tasks();
        mint_tasks.close();
        let patience = minter.deadline() * 2;
        if tokio::time::timeout(patience, mint_tasks.wait())
            .await
            .is_err()
        {
            tracing::error!(
                running = mint_tasks.len(),
                "mints still running at exit; the reconciler resolves their records"
            );
        }
        let _ = stop_reconciler.send(true);
        if let Some(reconciler) = reconciler {
            let _ = reconciler.await;
        }
        if let Some(worker) = revocation_worker {
            let _ = worker.await;
        }
        upkeep.abort();
        for task in self.background {
            task.abort();
        }
        served
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

/// The background loops this replica runs on `state`: the reconciler and the bulk revocation
/// worker, each unless turned off.
fn workers(
    settings: &Settings,
    state: &AppState,
) -> (Option<Reconciler>, Option<RevocationWorker>) {
    let reconciler = settings.reconciler.enabled.then(|| {
        Reconciler::new(ReconcilerParts {
            store: state.store.clone(),
            kong: state.kong.clone(),
            audit: state.app.audit.clone(),
            limits: state.app.limits.clone(),
            clock: Arc::clone(&state.clock),
            settings: settings.reconciler.clone(),
            instance: Reconciler::instance_name(),
        })
    });
    let revocation_worker = settings.revocations.enabled.then(|| {
        RevocationWorker::new(WorkerParts {
            store: state.store.clone(),
            revoker: state.app.revoker.clone(),
            audit: state.app.audit.clone(),
            clock: Arc::clone(&state.clock),
            jobs: state.app.revocations.clone(),
            settings: settings.revocations.clone(),
            instance: Reconciler::instance_name(),
        })
    });
    (reconciler, revocation_worker)
}
