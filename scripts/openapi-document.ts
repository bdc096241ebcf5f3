import { rmSync } from 'node:fs'
import { testApp, tempDir } from '../tests/helpers/app.js'

/**
 * An instance with API keys, as it is deployed: the committed document describes that one (its
 * info.description says so); an instance in protected mode serves its own, which also offers {}.
 * The key never appears in the document.
 */
export const KEYED_INSTANCE = { API_KEYS: `documented:read:${'d'.repeat(32)}` }

/** The OpenAPI document of an app built on the real templates, as the committed file stores it. */
export async function liveOpenApiDocument(): Promise<string> {
  const dir = tempDir('afb-openapi-')
  const t = await testApp(KEYED_INSTANCE, dir)
  try {
    return `${JSON.stringify(t.app.swagger(), null, 2)}\n`
  } finally {
    await t.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
