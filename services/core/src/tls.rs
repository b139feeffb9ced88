//! The one TLS crypto provider of the process: rustls with *ring* (reqwest is built with
//! `rustls-no-provider` so aws-lc-sys is never compiled). Every reqwest client panics when built
//! before a provider is installed: binaries call [`install_crypto_provider`] first thing, the
//! S3 store and the test harness call it too (it is idempotent).

/// Installs rustls' *ring* provider as the process default; a no-op when one already is.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider was installed first: that one serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// `make()` (a client builder, say) after installing the provider.
pub fn with_provider<T>(make: impl FnOnce() -> T) -> T {
    install_crypto_provider();
    make()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_reqwest_client_builds_once_the_provider_is_installed_and_twice_is_harmless() {
        super::install_crypto_provider();
        super::install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        reqwest::Client::builder().build().expect("a client with the ring provider");
    }
}
