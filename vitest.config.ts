import { defineConfig, type ViteUserConfig } from 'vitest/config'

const shared = {
  // generated test files are written to temp dirs and run by a child vitest; never collect them here
  exclude: ['**/node_modules/**', 'tests/golden/**', '.tmp/**'],
  // one PostgreSQL cluster for the run; tests/helpers/postgres.ts gives each test file a database of its own on it
  globalSetup: ['tests/helpers/postgres-global-setup.ts'],
  testTimeout: 30_000,
  hookTimeout: 30_000,
} satisfies NonNullable<ViteUserConfig['test']>

/**
 * The suites that run a second time on PostgreSQL: one suite, parameterized by the store
 * (AFB_TEST_STORE, read by tests/helpers/app.ts), not a copy. Test files that read or tamper with
 * SQLite itself run on SQLite only until they speak the SQL port.
 */
export const ON_POSTGRES = [
  'tests/http/audit.test.ts',
  'tests/http/exports.test.ts',
  'tests/http/fuzz.test.ts',
  'tests/http/health.test.ts',
  'tests/http/issues.test.ts',
  'tests/http/kpis.test.ts',
  'tests/http/listening.test.ts',
  'tests/http/logs.test.ts',
  'tests/http/metrics.test.ts',
  'tests/http/number-rules.test.ts',
  'tests/http/serialization.test.ts',
  'tests/http/workflows.test.ts',
  'tests/security/audit-every-request.test.ts',
  'tests/security/auth.test.ts',
  'tests/security/error-bounds.test.ts',
  'tests/security/hardening.test.ts',
  'tests/security/hostile-input.test.ts',
  'tests/security/idempotency-limits.test.ts',
  'tests/security/webhooks.test.ts',
]

export default defineConfig({
  test: {
    projects: [
      // everything, on the embedded default (SQLite)
      { test: { ...shared, name: 'sqlite', include: ['tests/**/*.test.ts'] } },
      { test: { ...shared, name: 'postgres', include: ON_POSTGRES, env: { AFB_TEST_STORE: 'postgres' } } },
    ],
  },
})
