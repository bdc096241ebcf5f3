import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // generated test files are written to temp dirs and run by a child vitest; never collect them here
    exclude: ['**/node_modules/**', 'tests/golden/**', '.tmp/**'],
    // one PostgreSQL cluster for the run; tests/helpers/postgres.ts gives each test file a database of its own on it
    globalSetup: ['tests/helpers/postgres-global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
