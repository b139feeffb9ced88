// Sign-in: the tenant's API key, kept in sessionStorage for this tab (never in a URL).

import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { Api } from './api/client';

const STORAGE_KEY = 'framelog.apiKey';

interface AuthValue {
  apiKey: string | null;
  api: Api | null;
  signIn(key: string): void;
  signOut(): void;
}

const AuthContext = createContext<AuthValue | null>(null);

function readKey(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [apiKey, setKey] = useState<string | null>(readKey);
  const signIn = useCallback((key: string) => {
    sessionStorage.setItem(STORAGE_KEY, key);
    setKey(key);
  }, []);
  const signOut = useCallback(() => {
    sessionStorage.removeItem(STORAGE_KEY);
    setKey(null);
  }, []);
  const value = useMemo(
    () => ({ apiKey, api: apiKey ? new Api(apiKey) : null, signIn, signOut }),
    [apiKey, signIn, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthValue {
  const v = useContext(AuthContext);
  if (!v) throw new Error('useAuth outside AuthProvider');
  return v;
}

/** The API client of the signed-in tenant (pages under the sign-in gate only). */
export function useApi(): Api {
  const { api } = useAuth();
  if (!api) throw new Error('not signed in');
  return api;
}

export function useApiKey(): string {
  const { apiKey } = useAuth();
  if (!apiKey) throw new Error('not signed in');
  return apiKey;
}
