//! Building the S3 client from [`S3Settings`] (timeouts, few short retries), checking that the
//! bucket exists at start-up, and creating it with `--s3-create-bucket` (object_store cannot:
//! a presigned `PUT /<bucket>/`, so it works against AWS as well as SeaweedFS or MinIO).

use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::signer::{Method, Signer};
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use super::errors::map_err;
use crate::S3Settings;
use crate::media::MediaError;

/// Connecting to the S3 endpoint must succeed within this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One request (a part of up to 8 MiB included) must finish within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Retries of a failed request: few and short, so a store that is down is reported in seconds.
pub const MAX_RETRIES: usize = 2;

/// A start-up refusal: what is wrong with the settings or the bucket.
fn refused(what: &str, msg: String) -> MediaError {
    MediaError::Io {
        key: what.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, msg),
    }
}

/// What `settings` lack for `--media-store s3`, as a message naming the flags.
pub fn check(settings: &S3Settings) -> Result<&str, String> {
    let Some(bucket) = settings.bucket.as_deref().filter(|b| !b.is_empty()) else {
        return Err("--media-store s3 needs --s3-bucket (FRAMELOG_S3_BUCKET)".into());
    };
    if settings.access_key_id.is_none() || settings.secret_access_key.is_none() {
        return Err("--media-store s3 needs credentials: --s3-access-key-id and \
                    --s3-secret-access-key (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
            .into());
    }
    Ok(bucket)
}

/// The retry policy: two retries, 100 ms then 200 ms apart, never past 5 s in all.
pub fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: MAX_RETRIES,
        retry_timeout: Duration::from_secs(5),
    }
}

/// The client for `settings` (no request is made).
pub fn build(settings: &S3Settings) -> Result<(AmazonS3, String), MediaError> {
    crate::tls::install_crypto_provider();
    let bucket = check(settings).map_err(|m| refused("s3", m))?.to_owned();
    let options = ClientOptions::new()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_timeout(REQUEST_TIMEOUT)
        .with_allow_http(true);
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_region(settings.region_or(None))
        .with_access_key_id(settings.access_key_id.clone().unwrap_or_default())
        .with_secret_access_key(settings.secret_access_key.clone().unwrap_or_default())
        .with_virtual_hosted_style_request(!settings.path_style)
        .with_allow_http(true)
        .with_client_options(options)
        .with_retry(retry_config());
    if let Some(endpoint) = &settings.endpoint {
        b = b.with_endpoint(endpoint);
    }
    if let Some(token) = &settings.session_token {
        b = b.with_token(token);
    }
    let s3 = b.build().map_err(|e| refused(&bucket, format!("S3 settings: {e}")))?;
    Ok((s3, bucket))
}

/// The client, once the bucket is known to exist (created first with `create_bucket`).
pub async fn connect(settings: &S3Settings) -> Result<(AmazonS3, String), MediaError> {
    let (s3, bucket) = build(settings)?;
    match bucket_exists(&s3, &bucket).await? {
        true => {}
        false if settings.create_bucket => create(&s3, &bucket, settings).await?,
        false => {
            return Err(refused(
                &bucket,
                format!(
                    "the S3 bucket {bucket:?} does not exist: create it, or start with \
                     --s3-create-bucket (development)"
                ),
            ));
        }
    }
    Ok((s3, bucket))
}

/// Whether the bucket exists: a LIST of one unlikely prefix is 404 only without a bucket.
async fn bucket_exists(s3: &AmazonS3, bucket: &str) -> Result<bool, MediaError> {
    let probe = ObjectPath::from("framelog-bucket-check");
    match s3.list(Some(&probe)).try_next().await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        // A LIST's 404 comes as `Generic`, with S3's code only in the text.
        Err(e) if super::errors::chain_text(&e).contains("NoSuchBucket") => Ok(false),
        Err(e) => Err(map_err(bucket, e)),
    }
}

/// Creates the bucket with a presigned `PUT /<bucket>/` (a `LocationConstraint` outside
/// us-east-1). An existing bucket (409) is fine: another replica made it first.
async fn create(s3: &AmazonS3, bucket: &str, settings: &S3Settings) -> Result<(), MediaError> {
    let url = s3
        .signed_url(Method::PUT, &ObjectPath::from(""), Duration::from_secs(60))
        .await
        .map_err(|e| map_err(bucket, e))?;
    let region = settings.region_or(None);
    let body = match region.as_str() {
        "us-east-1" => String::new(),
        r => format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LocationConstraint>{r}</LocationConstraint></CreateBucketConfiguration>"
        ),
    };
    let http = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| refused(bucket, format!("HTTP client: {e}")))?;
    let resp = http.put(url.as_str()).body(body).send().await.map_err(|e| {
        MediaError::Unavailable { key: bucket.to_owned(), reason: format!("creating: {e}") }
    })?;
    let status = resp.status();
    if status.is_success() || status.as_u16() == 409 {
        tracing::info!(bucket, "created the S3 bucket");
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    let msg = format!("creating the S3 bucket {bucket:?}: {status}: {text}");
    Err(if status.is_server_error() {
        MediaError::Unavailable { key: bucket.to_owned(), reason: msg }
    } else {
        refused(bucket, msg)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_bucket_or_missing_credentials_are_named_by_their_flags() {
        let mut s = S3Settings::default();
        assert!(check(&s).unwrap_err().contains("--s3-bucket"));
        s.bucket = Some("media".into());
        assert!(check(&s).unwrap_err().contains("--s3-access-key-id"));
        s.access_key_id = Some("a".into());
        s.secret_access_key = Some("b".into());
        assert_eq!(check(&s), Ok("media"));
    }
}
