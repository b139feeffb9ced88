// Sign in with the tenant's API key (checked against the API before it is kept).

import { useState, type FormEvent } from 'react';
import { Api } from '../api/client';
import { useAuth } from '../auth';
import { ErrorMessage } from '../components/common';

export function SignIn() {
  const { signIn } = useAuth();
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const k = key.trim();
    if (!k) return setError('Enter your API key.');
    setBusy(true);
    setError(null);
    try {
      await new Api(k).get('/v1/stats');
      signIn(k);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="signin">
      <form onSubmit={submit} className="card signin-card" aria-labelledby="signin-title">
        <h1 id="signin-title">Framelog</h1>
        <p className="muted">Sign in with your tenant's API key (from <code>framelog tenant create</code>).</p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="current-password"
          autoFocus
          value={key}
          onChange={(e) => setKey(e.target.value)}
          aria-describedby="api-key-help"
        />
        <p id="api-key-help" className="small muted">
          Kept in this tab only (session storage) until you sign out or close it.
        </p>
        <ErrorMessage error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
