//! AWS SDK configuration and clients; the one place SDK errors are classified.
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::ReadOnce;
use super::limit::Service;
use aws_config::BehaviorVersion;
use aws_config::default_provider::region::DefaultRegionChain;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_iam::config::Region;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::config::{FALLBACK_REGION, Settings};
use crate::error::{AwsFailure, Error, Result};

/// Who we are in AWS, read once from STS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account_id: String,
    pub caller_arn: String,
    pub partition: String,
}

/// How a denial names the caller until the identity is known.
const UNKNOWN_CALLER: &str = "the current AWS identity";

#[derive(Clone)]
pub struct Aws {
    pub iam: aws_sdk_iam::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub kms: aws_sdk_kms::Client,
    pub sts: aws_sdk_sts::Client,
    pub region: String,
    caller: OnceLock<String>,
    /// An account-wide listing and the one OIDC provider, read once for every repository.
    shared: Arc<ReadOnce>,
}

impl Aws {
    /// Loads the SDK's default chain (profile, env, SSO, `AWS_ENDPOINT_URL`); no network call.
    pub async fn connect(settings: &Settings) -> Result<Aws> {
        if let Some(p) = settings.profile.as_deref() {
            check_profile(p).await?;
        }
        let region = resolve_region(settings.region.as_deref(), settings.profile.as_deref()).await;
        crate::config::check_region(&region)?;
        Aws::for_region(region, settings.profile.as_deref()).await
    }

    /// Clients for an already resolved region (the wizard connects before all settings are known).
    /// A named profile's own credentials are used even when `AWS_ACCESS_KEY_ID` & co. are set:
    /// the SDK's default chain would take the environment's first, and change another account.
    pub async fn for_region(region: String, profile: Option<&str>) -> Result<Aws> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.clone()))
            .timeout_config(timeouts());
        if let Some(p) = profile {
            check_profile(p).await?;
            loader = loader.profile_name(p).credentials_provider(
                aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .profile_name(p)
                    .build(),
            );
        }
        let shared = loader.load().await;
        let bounded = |service| Some(super::limit::bounded(shared.http_client(), service));
        Ok(Aws {
            iam: aws_sdk_iam::Client::from_conf({
                let mut config = aws_sdk_iam::config::Builder::from(&shared);
                config.set_http_client(bounded(Service::Iam));
                config.interceptor(RequestLog).build()
            }),
            ecr: aws_sdk_ecr::Client::from_conf({
                let mut config = aws_sdk_ecr::config::Builder::from(&shared);
                config.set_http_client(bounded(Service::Ecr));
                config.interceptor(RequestLog).build()
            }),
            kms: aws_sdk_kms::Client::from_conf({
                let mut config = aws_sdk_kms::config::Builder::from(&shared);
                config.set_http_client(bounded(Service::Kms));
                config.interceptor(RequestLog).build()
            }),
            sts: aws_sdk_sts::Client::from_conf({
                let mut config = aws_sdk_sts::config::Builder::from(&shared);
                config.set_http_client(bounded(Service::Sts));
                config.interceptor(RequestLog).build()
            }),
            region,
            caller: OnceLock::new(),
            shared: Arc::default(),
        })
    }

    /// What `read` gives for `key`, read once for the whole run (see `ReadOnce`).
    pub async fn read_once<V, F, Fut>(&self, key: &str, read: F) -> Result<V>
    where
        V: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        self.shared.get(key, read).await
    }

    /// Who the credentials are: asked once per run, whatever number of repositories asks.
    pub async fn identity(&self) -> Result<Identity> {
        self.read_once("sts:GetCallerIdentity", || self.ask_identity())
            .await
    }

    async fn ask_identity(&self) -> Result<Identity> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| self.error(failure("sts:GetCallerIdentity", e)))?;
        let caller_arn = out.arn().unwrap_or_default().to_string();
        let account_id = out.account().unwrap_or_default().to_string();
        if account_id.len() != 12 || !account_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::Aws {
                action: "sts:GetCallerIdentity",
                code: None,
                message: format!("returned an unexpected account ID {account_id:?}"),
            });
        }
        let partition = caller_arn
            .split(':')
            .nth(1)
            .filter(|p| p.starts_with("aws"))
            .unwrap_or("aws")
            .to_string();
        let _ = self.caller.set(caller_arn.clone());
        Ok(Identity {
            account_id,
            caller_arn,
            partition,
        })
    }

    /// A denial that came back before the caller's identity (they are read at once) names the
    /// caller all the same: "grant X to whom" is the point of the message.
    pub async fn name_the_caller(&self, e: Error) -> Error {
        match e {
            // Worded before the identity arrived: the caller may be known by now.
            Error::PermissionDenied { action, caller } if caller == UNKNOWN_CALLER => {
                let caller = match self.caller.get() {
                    Some(known) => known.clone(),
                    None => self.identity().await.map_or(caller, |me| me.caller_arn),
                };
                Error::PermissionDenied { action, caller }
            }
            other => other,
        }
    }

    /// "Not found" as a value: `None` for a missing resource, the classified error otherwise.
    pub fn absent<T>(&self, f: AwsFailure) -> Result<Option<T>> {
        if f.is_not_found() {
            Ok(None)
        } else {
            Err(self.error(f))
        }
    }

    /// A delete whose target is already gone has reached its goal.
    pub fn gone(&self, f: AwsFailure) -> Result<()> {
        self.absent::<()>(f).map(|_| ())
    }

    /// IAM refuses to delete what still has other attachments: say what to remove.
    pub fn gone_unless_attached(&self, f: AwsFailure, what: &str) -> Result<()> {
        if f.is("DeleteConflict") {
            return Err(Error::Blocked(format!(
                "AWS will not delete {what}: {}.\n  Something this tool did not create is attached to it; remove that first, then rerun destroy.",
                f.message
            )));
        }
        self.gone(f)
    }

    /// Turns a classified failure into the error a person sees.
    pub fn error(&self, f: AwsFailure) -> Error {
        if f.is_access_denied() {
            return Error::PermissionDenied {
                action: f.action,
                caller: self
                    .caller
                    .get()
                    .cloned()
                    .unwrap_or_else(|| UNKNOWN_CALLER.into()),
            };
        }
        if matches!(
            f.code.as_deref(),
            Some(
                "InvalidClientTokenId"
                    | "ExpiredToken"
                    | "UnrecognizedClientException"
                    | "SignatureDoesNotMatch"
            )
        ) || (f.code.is_none() && f.message.contains("credentials"))
        {
            return Error::AwsSetup(format!("{} failed: {}", f.action, f.message));
        }
        if f.code.is_none() && f.status.is_none() {
            return Error::Aws {
                action: f.action,
                code: None,
                message: format!(
                    "{}\n  AWS could not be reached: check the network, proxy settings and AWS_ENDPOINT_URL, then rerun",
                    f.message.trim_start_matches("dispatch failure: ")
                ),
            };
        }
        let advice = what_to_do(&f);
        Error::Aws {
            action: f.action,
            code: f.code,
            message: format!("{}\n  {advice}", f.message),
        }
    }
}

/// `--verbose`: one note per AWS request attempt, with its service, action, status and duration.
#[derive(Debug)]
struct RequestLog;

#[derive(Debug, Clone)]
struct Sent(Instant);

impl aws_smithy_types::config_bag::Storable for Sent {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        cfg.interceptor_state().store_put(Sent(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        if !crate::cloud::verbose() {
            return Ok(());
        }
        let (service, action) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_ascii_lowercase(), m.name().to_string()))
            .unwrap_or_default();
        let answer = context
            .response()
            .map(|r| r.status().as_u16().to_string())
            .unwrap_or_else(|| "no answer".into());
        let took = cfg
            .load::<Sent>()
            .map(|s| format!(" in {} ms", s.0.elapsed().as_millis()))
            .unwrap_or_default();
        crate::cloud::debug_note(&format!("aws {service} {action}: {answer}{took}"));
        Ok(())
    }
}

/// The second line of a failure: what a person can do about it.
fn what_to_do(f: &AwsFailure) -> &'static str {
    match (f.status, f.code.is_some()) {
        (Some(s), false) if s >= 500 => {
            "The answer did not come from AWS: a proxy or gateway in between answered instead. Check HTTPS_PROXY and AWS_ENDPOINT_URL, then rerun: the rerun continues where this one stopped."
        }
        (Some(s), _) if s >= 500 => {
            "AWS could not complete the call. Rerun in a minute: the rerun continues where this one stopped."
        }
        (_, false) => {
            "Check HTTPS_PROXY and AWS_ENDPOINT_URL (a proxy in between may have answered), then rerun: the rerun continues where this one stopped."
        }
        _ => "Rerun once the cause above is fixed: the rerun continues where this one stopped.",
    }
}

/// `--profile NAME` means that profile or an error naming it and the files read: a typo must
/// never fall back to the environment's credentials, which may be another account's.
async fn check_profile(name: &str) -> Result<()> {
    use aws_runtime::env_config::file::EnvConfigFiles;
    use aws_types::os_shim_internal::{Env, Fs};
    let found =
        aws_config::profile::load(&Fs::real(), &Env::real(), &EnvConfigFiles::default(), None)
            .await
            .is_ok_and(|set| set.get_profile(name).is_some());
    if found {
        return Ok(());
    }
    let file = |var: &str, default: &str| {
        std::env::var(var).unwrap_or_else(|_| format!("~/.aws/{default}"))
    };
    Err(Error::AwsSetup(format!(
        "AWS profile {name} was not found in {} or {}",
        file("AWS_CONFIG_FILE", "config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
    )))
}

/// The region to use: the explicit one, else the named profile's, else the AWS config chain,
/// else us-east-1. A named profile's region wins over `AWS_REGION`, as its credentials do.
pub async fn resolve_region(explicit: Option<&str>, profile: Option<&str>) -> String {
    let mut chain = DefaultRegionChain::builder();
    let mut of_profile: Option<Region> = None;
    if let Some(p) = profile {
        use aws_config::meta::region::ProvideRegion;
        chain = chain.profile_name(p);
        of_profile = aws_config::profile::ProfileFileRegionProvider::builder()
            .profile_name(p)
            .build()
            .region()
            .await;
    }
    RegionProviderChain::first_try(explicit.map(|r| Region::new(r.to_string())))
        .or_else(of_profile)
        .or_else(chain.build())
        .or_else(Region::from_static(FALLBACK_REGION))
        .region()
        .await
        .map(|r| r.to_string())
        .unwrap_or_else(|| FALLBACK_REGION.to_string())
}

/// Classifies an SDK error: code, message and HTTP status, tagged with the IAM action name.
pub fn failure<E>(action: &'static str, err: SdkError<E, HttpResponse>) -> AwsFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    // An error body in an envelope the SDK does not parse (an XML denial on a JSON-protocol
    // call, say) still names its code: a bad signature must not read as a missing permission.
    let code = err.code().map(str::to_string).or_else(|| {
        err.raw_response()
            .and_then(|r| r.body().bytes())
            .and_then(|b| sniff_code(&String::from_utf8_lossy(b)))
    });
    // An answer the SDK could not read is described by what came back, never by the SDK's
    // Debug dump of it.
    let message = match (&err, err.message()) {
        (SdkError::ServiceError(_), Some(m)) => m.to_string(),
        (SdkError::ServiceError(_) | SdkError::ResponseError(_), _) => {
            unreadable_answer(err.raw_response())
        }
        _ => causes(&err),
    };
    AwsFailure {
        action,
        code,
        message,
        status,
    }
}

/// "HTTP 500 with a body that is not an AWS answer: \"<html>…\"".
fn unreadable_answer(raw: Option<&HttpResponse>) -> String {
    let Some(raw) = raw else {
        return "the answer could not be read".into();
    };
    let body = raw.body().bytes().unwrap_or_default();
    format!(
        "HTTP {} with a body that is not an AWS answer: {}",
        raw.status().as_u16(),
        crate::error::answer_start(body)
    )
}

/// The error code in an error body the SDK could not parse: `<Code>X</Code>` (query
/// protocols) or `"__type": "ns#X"` (JSON protocols).
fn sniff_code(body: &str) -> Option<String> {
    let xml = body
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code);
    let json = || {
        let rest = body.split_once("\"__type\"")?.1;
        let rest = rest.trim_start().strip_prefix(':')?.trim_start();
        let value = rest.strip_prefix('"')?.split_once('"')?.0;
        Some(value.rsplit('#').next().unwrap_or(value))
    };
    let code = xml.or_else(json)?.trim();
    let plausible = !code.is_empty()
        && code.len() <= 64
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
    plausible.then(|| code.to_string())
}

/// The SDK sets no limit on how long one attempt may wait for an answer, so an endpoint that
/// accepts the connection and never answers would hang the run. An attempt that takes longer
/// is abandoned and retried like any transient failure.
fn timeouts() -> aws_config::timeout::TimeoutConfig {
    let attempt = std::env::var("SKYECR_AWS_ATTEMPT_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(30);
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(attempt))
        .build()
}

/// The error's causes as one line of their own words (no Debug dumps), repeats dropped.
fn causes(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    let joined = parts.join(": ");
    if joined.contains("no credentials found") || joined.contains("CredentialsNotLoaded") {
        return "no AWS credentials found (environment, profile, SSO, web identity, container and instance metadata were tried)".into();
    }
    joined
}

/// How long to wait for IAM's eventual consistency before asking the user to rerun.
fn propagation_budget() -> Duration {
    let secs = std::env::var("SKYECR_IAM_PROPAGATION_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(120);
    Duration::from_secs(secs)
}

/// Retries a call while `retryable` says the failure is IAM propagation lag; bounded.
/// Throttling and 5xx are left to the SDK's own retry configuration.
pub async fn retry_propagation<T, Fut>(
    aws: &Aws,
    retryable: impl Fn(&AwsFailure) -> bool,
    mut call: impl FnMut() -> Fut,
) -> Result<T>
where
    Fut: Future<Output = std::result::Result<T, AwsFailure>>,
{
    let budget = propagation_budget();
    let started = Instant::now();
    let mut delay = Duration::from_millis(500);
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(f) if retryable(&f) => {
                if started.elapsed() + delay > budget {
                    return Err(Error::PropagationTimeout {
                        action: f.action,
                        seconds: started.elapsed().as_secs(),
                        detail: f.code.unwrap_or(f.message),
                    });
                }
                crate::cloud::debug_note(&format!(
                    "{} waits for IAM to propagate ({}); retrying in {} ms",
                    f.action,
                    f.code.as_deref().unwrap_or("no code"),
                    delay.as_millis()
                ));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(f) => return Err(aws.error(f)),
        }
    }
}

/// AWS refused the call for its rate: certainly not applied, safe to repeat.
pub fn is_throttling(f: &AwsFailure) -> bool {
    matches!(
        f.code.as_deref(),
        Some(
            "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException"
                | "RequestThrottled"
        )
    )
}

/// IAM has not yet seen a just-created OIDC provider.
pub fn is_invalid_principal(f: &AwsFailure) -> bool {
    f.is("MalformedPolicyDocument") && f.message.to_ascii_lowercase().contains("invalid principal")
}

/// IAM has not yet seen a just-created entity, or another write is in flight.
pub fn is_propagation_lag(f: &AwsFailure) -> bool {
    f.is("NoSuchEntity") || f.is("ConcurrentModification")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_found_in_bodies_the_sdk_cannot_parse() {
        let moto = "<?xml version=\"1.0\"?>\n<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: x is not authorized</Message></Error></Errors></ErrorResponse>";
        assert_eq!(sniff_code(moto).as_deref(), Some("AccessDenied"));
        let json =
            r#"{"__type": "com.amazon.coral.service#ExpiredTokenException", "message": "m"}"#;
        assert_eq!(sniff_code(json).as_deref(), Some("ExpiredTokenException"));
        assert_eq!(sniff_code("<html>Forbidden</html>"), None);
        assert_eq!(sniff_code("<Code>not a code at all</Code>"), None);
        assert_eq!(sniff_code(""), None);
    }
}
