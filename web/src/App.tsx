// The shell: sign-in gate, navigation, routes, the shared live feed.

import { Suspense, lazy, useEffect, type ReactNode } from 'react';
import { AuthProvider, useAuth } from './auth';
import { ErrorBoundary } from './ErrorBoundary';
import { FeedProvider, useFeed } from './feed';
import { Catalog } from './pages/Catalog';
import { Dashboard } from './pages/Dashboard';
import { LiveBrowser } from './pages/LiveBrowser';
import { NotFound } from './pages/NotFound';
import { SignIn } from './pages/SignIn';
import { Studio } from './pages/Studio';
import { Upload } from './pages/Upload';
import { Loading } from './components/common';
import { Link, NavLink, matchPath, usePath } from './router';

// The player pages carry hls.js: loaded when first opened.
const Watch = lazy(() => import('./pages/Watch').then((m) => ({ default: m.Watch })));
const LiveViewer = lazy(() => import('./pages/LiveViewer').then((m) => ({ default: m.LiveViewer })));

// `/live/...` and `/hls/...` are API paths on the server, so the live viewer lives at /stream/:id.
const ROUTES: [string, (p: Record<string, string>) => ReactNode][] = [
  ['/', () => <Catalog />],
  ['/watch/:id', (p) => <Watch id={p.id!} />],
  ['/upload', () => <Upload />],
  ['/live', () => <LiveBrowser />],
  ['/stream/:id', (p) => <LiveViewer id={p.id!} />],
  ['/studio', () => <Studio />],
  ['/dashboard', () => <Dashboard />],
];

function route(path: string): ReactNode {
  for (const [pattern, render] of ROUTES) {
    const params = matchPath(pattern, path);
    if (params) return render(params);
  }
  return <NotFound />;
}

function FeedIndicator() {
  const { status, error } = useFeed();
  const label = status === 'open' ? 'Live' : status === 'failed' ? 'Feed off' : 'Connecting';
  return (
    <span className={`feed feed-${status}`} role="status" title={error ?? `Event feed: ${status}`} data-feed-status={status}>
      <span className="dot" aria-hidden="true" /> {label}
    </span>
  );
}

function Shell() {
  const { apiKey, signOut } = useAuth();
  const path = usePath();
  useEffect(() => {
    document.getElementById('page-title')?.focus({ preventScroll: true });
  }, [path]);
  if (!apiKey) return <SignIn />;
  return (
    <FeedProvider>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          Framelog
        </Link>
        <nav aria-label="Main">
          <NavLink to="/" exact>
            Catalog
          </NavLink>
          <NavLink to="/upload">Upload</NavLink>
          <NavLink to="/live">Live</NavLink>
          <NavLink to="/studio">Studio</NavLink>
          <NavLink to="/dashboard">Dashboard</NavLink>
        </nav>
        <div className="topbar-end">
          <FeedIndicator />
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        <ErrorBoundary resetKey={path}>
          <Suspense fallback={<Loading />}>{route(path)}</Suspense>
        </ErrorBoundary>
      </main>
    </FeedProvider>
  );
}

export function App() {
  return (
    <AuthProvider>
      <ErrorBoundary>
        <Shell />
      </ErrorBoundary>
    </AuthProvider>
  );
}
