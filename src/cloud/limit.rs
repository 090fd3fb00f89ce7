//! A bound on the requests in flight to each service, shared by every client of the run, so
//! many repositories at once stay under the services' rate limits instead of provoking them.
//!
//! IAM's write rate is the binding limit: its quota is per account and low (AWS does not
//! publish it; throttling starts at a few dozen mutating calls per second) and every entry of a
//! run shares it. GitHub allows 100 concurrent requests per token. The SDK's standard retries
//! (exponential backoff with jitter) and the GitHub client's rate-limit waits absorb the
//! throttling that still happens. docs/usage.md ("Many repositories") states the bounds.
use std::sync::{Arc, LazyLock};

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The services and how many requests each may have in flight at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Iam,
    Ecr,
    Sts,
    Kms,
    GitHub,
}

/// Reads and writes have bounds of their own where the service limits writes harder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Read,
    Write,
}

const SERVICES: [Service; 5] = [
    Service::Iam,
    Service::Ecr,
    Service::Sts,
    Service::Kms,
    Service::GitHub,
];

impl Service {
    pub const fn bound(self, lane: Lane) -> usize {
        match (self, lane) {
            // Reads are cheap for the services and throttled late; writes are what IAM and
            // ECR limit per account.
            (Service::Iam, Lane::Read) => 48,
            (Service::Iam, Lane::Write) => 10,
            (Service::Ecr, Lane::Read) => 32,
            (Service::Ecr, Lane::Write) => 10,
            (Service::Sts, _) => 4,
            (Service::Kms, _) => 8,
            // GitHub allows 100 concurrent requests per token before its secondary rate limit
            // (docs.github.com, "Rate limits for the REST API"); 64 leaves room for the
            // token's other users. Its limit on content-creating requests per minute is
            // answered with retry-after, which the client waits out.
            (Service::GitHub, _) => 64,
        }
    }

    fn permits(self, lane: Lane) -> Option<&'static Arc<Semaphore>> {
        static PERMITS: LazyLock<Vec<(Service, Lane, Arc<Semaphore>)>> = LazyLock::new(|| {
            SERVICES
                .iter()
                .flat_map(|&s| {
                    [Lane::Read, Lane::Write]
                        .map(|lane| (s, lane, Arc::new(Semaphore::new(s.bound(lane)))))
                })
                .collect()
        });
        PERMITS
            .iter()
            .find(|(s, l, _)| *s == self && *l == lane)
            .map(|(_, _, permits)| permits)
    }

    /// Waits for a place among the service's requests in flight; held until dropped.
    pub async fn slot(self, lane: Lane) -> Option<OwnedSemaphorePermit> {
        // The semaphores are never closed, so this is always a permit.
        self.permits(lane)?.clone().acquire_owned().await.ok()
    }
}

/// Whether an AWS request changes something: the action of a query-protocol body (IAM, STS)
/// or of the JSON protocols' `X-Amz-Target` (ECR, KMS). One that cannot be told is a write,
/// under the tighter bound.
fn lane_of(request: &HttpRequest) -> Lane {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|t| t.rsplit('.').next().map(str::to_string));
    let action = target.or_else(|| {
        let body = std::str::from_utf8(request.body().bytes()?).ok()?;
        body.split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
            .map(str::to_string)
    });
    match action {
        Some(a)
            if ["Get", "List", "Describe", "BatchGet"]
                .iter()
                .any(|read| a.starts_with(read)) =>
        {
            Lane::Read
        }
        _ => Lane::Write,
    }
}

/// An HTTP client, or the SDK's default one (`None`), with each request waiting for its
/// service's slot.
pub fn bounded(inner: Option<SharedHttpClient>, service: Service) -> SharedHttpClient {
    let inner = inner.unwrap_or_else(sdk_default_client);
    SharedHttpClient::new(Bounded { inner, service })
}

/// What the SDK would use: hyper with rustls, and the proxy of `HTTPS_PROXY` & co.
fn sdk_default_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

#[derive(Debug)]
struct Bounded {
    inner: SharedHttpClient,
    service: Service,
}

impl HttpClient for Bounded {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(BoundedConnector {
            inner: self.inner.http_connector(settings, components),
            service: self.service,
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct BoundedConnector {
    inner: SharedHttpConnector,
    service: Service,
}

impl HttpConnector for BoundedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let service = self.service;
        let lane = lane_of(&request);
        HttpConnectorFuture::new(async move {
            let slot = service.slot(lane).await;
            let response = inner.call(request).await;
            drop(slot);
            response.map_err(|e: ConnectorError| e)
        })
    }
}
