/**
 * What every export's webhook trigger expects of a caller. One header for every platform, so a
 * sender (the income engine, this service's caller) configures one secret the same way wherever
 * the automation runs.
 */

/** The header a caller sends the shared secret in; a call without it, or with another value, runs nothing. */
export const WEBHOOK_SECRET_HEADER = 'x-afb-secret'
