/** Start-up faults of the target repository (not HTTP answers: the service refuses to start). */
export class RepositoryError extends Error {
  override name = 'RepositoryError'
}
