//! [`S3Settings`]: where the S3 media store is (`--media-store s3`): endpoint, bucket, region,
//! credentials and addressing. Its `Debug` never shows the secret key or the session token.

use std::time::Duration;

/// The `--s3-*` flags. The credentials take the standard `AWS_*` variables.
#[derive(Clone, clap::Args)]
pub struct S3Settings {
    /// S3 endpoint URL (`http://127.0.0.1:8333` for SeaweedFS, MinIO or R2's account URL).
    /// Absent: AWS S3 for the region.
    #[arg(long = "s3-endpoint", env = "FRAMELOG_S3_ENDPOINT")]
    pub endpoint: Option<String>,

    /// Bucket holding the media (required with `--media-store s3`).
    #[arg(long = "s3-bucket", env = "FRAMELOG_S3_BUCKET")]
    pub bucket: Option<String>,

    /// Region (`AWS_REGION` when this is unset; then `us-east-1`).
    #[arg(long = "s3-region", env = "FRAMELOG_S3_REGION")]
    pub region: Option<String>,

    /// Access key id.
    #[arg(long = "s3-access-key-id", env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub access_key_id: Option<String>,

    /// Secret access key (never logged).
    #[arg(long = "s3-secret-access-key", env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_access_key: Option<String>,

    /// Session token of temporary credentials (never logged).
    #[arg(long = "s3-session-token", env = "AWS_SESSION_TOKEN", hide_env_values = true)]
    pub session_token: Option<String>,

    /// Path-style addressing (`<endpoint>/<bucket>/<key>`): SeaweedFS and MinIO need it.
    #[arg(long = "s3-path-style", env = "FRAMELOG_S3_PATH_STYLE")]
    pub path_style: bool,

    /// Create the bucket at start if it is missing (development and tests).
    #[arg(long = "s3-create-bucket", env = "FRAMELOG_S3_CREATE_BUCKET")]
    pub create_bucket: bool,

    /// Lifetime of presigned URLs, seconds.
    #[arg(long = "s3-presign-ttl", env = "FRAMELOG_S3_PRESIGN_TTL", default_value_t = DEFAULT_PRESIGN_TTL_SECS)]
    pub presign_ttl_secs: u64,
}

impl Default for S3Settings {
    /// No endpoint, bucket or credentials; virtual-hosted style; one-hour presigned URLs.
    fn default() -> Self {
        S3Settings {
            endpoint: None,
            bucket: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            path_style: false,
            create_bucket: false,
            presign_ttl_secs: DEFAULT_PRESIGN_TTL_SECS,
        }
    }
}

/// Lifetime of presigned URLs when `--s3-presign-ttl` is not given, seconds.
pub const DEFAULT_PRESIGN_TTL_SECS: u64 = 3600;

/// The region when neither `--s3-region` nor `AWS_REGION` is set.
pub const DEFAULT_REGION: &str = "us-east-1";

impl S3Settings {
    /// The region: the flag, else `aws_region` (the caller passes `AWS_REGION`: library code
    /// does not read the environment), else `us-east-1`.
    pub fn region_or(&self, aws_region: Option<&str>) -> String {
        self.region
            .as_deref()
            .or(aws_region)
            .filter(|r| !r.is_empty())
            .unwrap_or(DEFAULT_REGION)
            .to_owned()
    }

    /// The lifetime of presigned URLs.
    pub fn presign_ttl(&self) -> Duration {
        Duration::from_secs(self.presign_ttl_secs)
    }
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "***");
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("session_token", &hidden(&self.session_token))
            .field("path_style", &self.path_style)
            .field("create_bucket", &self.create_bucket)
            .field("presign_ttl_secs", &self.presign_ttl_secs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret_key_and_the_session_token() {
        let s = S3Settings {
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI".into()),
            session_token: Some("FwoGZXIvYXdz".into()),
            ..S3Settings::default()
        };
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("wJalrXUtnFEMI") && !dbg.contains("FwoGZXIvYXdz"), "{dbg}");
        assert!(dbg.contains("AKIDEXAMPLE"), "{dbg}");
    }

    #[test]
    fn the_region_falls_back_to_aws_region_then_us_east_1() {
        let mut s = S3Settings::default();
        assert_eq!(s.region_or(None), "us-east-1");
        assert_eq!(s.region_or(Some("eu-west-1")), "eu-west-1");
        s.region = Some("auto".into());
        assert_eq!(s.region_or(Some("eu-west-1")), "auto");
    }
}
