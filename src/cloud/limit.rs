//! A bound on the requests in flight to each service, shared by every client of the run, so
//! many repositories at once stay under the services' rate limits instead of provoking them.
//!
//! IAM's write rate is the binding one: its quota is per account and low (AWS does not publish
//! it; throttling starts at a few dozen mutating calls per second), and IAM is shared by every
//! entry of a run, so it gets the smallest bound. The SDK's standard retries (exponential
//! backoff with jitter) absorb the throttling that still happens. docs/performance.md has the
//! measurements.
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
#[derive(Debug, Clone, Copy)]
pub enum Service {
    Iam,
    Ecr,
    Sts,
    Kms,
    GitHub,
}

impl Service {
    const fn bound(self) -> usize {
        match self {
            Service::Iam => 16,
            Service::Ecr => 16,
            Service::Sts => 4,
            Service::Kms => 8,
            // GitHub allows 100 concurrent requests per token before its secondary rate limit
            // (docs.github.com, "Rate limits for the REST API"); a third of that leaves room
            // for the token's other users.
            Service::GitHub => 32,
        }
    }

    fn permits(self) -> &'static Arc<Semaphore> {
        static IAM: LazyLock<Arc<Semaphore>> = LazyLock::new(|| semaphore(Service::Iam));
        static ECR: LazyLock<Arc<Semaphore>> = LazyLock::new(|| semaphore(Service::Ecr));
        static STS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| semaphore(Service::Sts));
        static KMS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| semaphore(Service::Kms));
        static GITHUB: LazyLock<Arc<Semaphore>> = LazyLock::new(|| semaphore(Service::GitHub));
        match self {
            Service::Iam => &IAM,
            Service::Ecr => &ECR,
            Service::Sts => &STS,
            Service::Kms => &KMS,
            Service::GitHub => &GITHUB,
        }
    }

    /// Waits for a place among the service's requests in flight; held until dropped.
    pub async fn slot(self) -> Option<OwnedSemaphorePermit> {
        // The semaphores are never closed, so this is always a permit.
        self.permits().clone().acquire_owned().await.ok()
    }
}

fn semaphore(service: Service) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(service.bound()))
}

/// The SDK's HTTP client, with each request waiting for its service's slot.
pub fn bounded(inner: SharedHttpClient, service: Service) -> SharedHttpClient {
    SharedHttpClient::new(Bounded { inner, service })
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
        HttpConnectorFuture::new(async move {
            let slot = service.slot().await;
            let response = inner.call(request).await;
            drop(slot);
            response.map_err(|e: ConnectorError| e)
        })
    }
}
