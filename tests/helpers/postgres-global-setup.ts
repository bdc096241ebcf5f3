import type { TestProject } from 'vitest/node'
import { startPostgresCluster } from './postgres-cluster.js'

/**
 * vitest globalSetup: one PostgreSQL cluster for the whole run, started before the first test file
 * and stopped (its folder removed) after the last. Test files reach it through freshPostgres().
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startPostgresCluster()
  project.provide('postgresAdminUrl', cluster.adminUrl)
  return () => cluster.stop()
}
