//! Static MP4 settings (issue 19): a tenant's default and per-video overrides, in the KV bucket
//! `framelog_mp4_settings` (declared with the topology). Keys: `t.<tenant>` (the default) and
//! `v.<tenant>.<video>` (an override); values are the setting's name (`capped-1080p`). Written
//! by the API (playback), read by the transcoder's MP4 worker when a video becomes ready.

use async_nats::jetstream::{self, kv};
use framelog_events::mp4::Mp4Setting;

/// The bucket of MP4 settings.
pub const KV_MP4_SETTINGS: &str = "framelog_mp4_settings";

/// A setting could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Mp4SettingsError {
    #[error("MP4 settings unavailable: {0}")]
    Store(String),
}

fn store_err(e: impl std::fmt::Display) -> Mp4SettingsError {
    Mp4SettingsError::Store(e.to_string())
}

/// The MP4 settings store; cheap to clone.
#[derive(Clone)]
pub struct Mp4Settings {
    kv: kv::Store,
}

impl std::fmt::Debug for Mp4Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mp4Settings")
    }
}

fn default_key(tenant: &str) -> String {
    format!("t.{tenant}")
}

fn video_key(tenant: &str, video: &str) -> String {
    format!("v.{tenant}.{video}")
}

impl Mp4Settings {
    /// Opens the bucket (created at start-up by the topology).
    pub async fn open(js: &jetstream::Context) -> Result<Self, Mp4SettingsError> {
        let kv = js.get_key_value(KV_MP4_SETTINGS).await.map_err(store_err)?;
        Ok(Mp4Settings { kv })
    }

    async fn read(&self, key: &str) -> Result<Option<Mp4Setting>, Mp4SettingsError> {
        let Some(v) = self.kv.get(key).await.map_err(store_err)? else { return Ok(None) };
        Ok(Mp4Setting::parse(&String::from_utf8_lossy(&v)))
    }

    /// The tenant's default (`none` when unset).
    #[tracing::instrument(skip(self), err)]
    pub async fn tenant_default(&self, tenant: &str) -> Result<Mp4Setting, Mp4SettingsError> {
        Ok(self.read(&default_key(tenant)).await?.unwrap_or_default())
    }

    /// Sets the tenant's default (applies to videos that become ready from now on).
    #[tracing::instrument(skip(self), err)]
    pub async fn set_tenant_default(
        &self,
        tenant: &str,
        setting: Mp4Setting,
    ) -> Result<(), Mp4SettingsError> {
        let value = setting.as_str().as_bytes().to_vec().into();
        self.kv.put(default_key(tenant), value).await.map_err(store_err)?;
        Ok(())
    }

    /// Sets the override of one video; returns the KV revision written (unique per change).
    #[tracing::instrument(skip(self), err)]
    pub async fn set_video(
        &self,
        tenant: &str,
        video: &str,
        setting: Mp4Setting,
    ) -> Result<u64, Mp4SettingsError> {
        let value = setting.as_str().as_bytes().to_vec().into();
        self.kv.put(video_key(tenant, video), value).await.map_err(store_err)
    }

    /// What applies to a video: its override, else the tenant's default.
    #[tracing::instrument(skip(self), err)]
    pub async fn effective(
        &self,
        tenant: &str,
        video: &str,
    ) -> Result<Mp4Setting, Mp4SettingsError> {
        match self.read(&video_key(tenant, video)).await? {
            Some(s) => Ok(s),
            None => self.tenant_default(tenant).await,
        }
    }
}
