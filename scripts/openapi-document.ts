import { rmSync } from 'node:fs'
import { testApp, tempDir } from '../tests/helpers/app.js'

/** The OpenAPI document of an app built on the real templates, as the committed file stores it. */
export async function liveOpenApiDocument(): Promise<string> {
  const dir = tempDir('afb-openapi-')
  const t = await testApp({}, dir)
  try {
    return `${JSON.stringify(t.app.swagger(), null, 2)}\n`
  } finally {
    await t.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
