/** `npm run openapi`: writes openapi/openapi.json from the live app (a test fails when it is stale). */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { projectRoot } from '../src/config.js'
import { liveOpenApiDocument } from './openapi-document.js'

const target = path.join(projectRoot(), 'openapi', 'openapi.json')
writeFileSync(target, await liveOpenApiDocument())
console.log(`wrote ${path.relative(process.cwd(), target)}`)
