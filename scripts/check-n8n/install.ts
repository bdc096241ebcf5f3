import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { run, tail } from './run.js'

/**
 * n8n is far too big (≈1.9k packages, 1.8 GB) to be a devDependency of this service, so the
 * check installs it once into a cache folder outside the repository and reuses it. The recipe
 * is described in docs/exports.md ("How the exports are checked"); the steps below say why each is there.
 */
export const N8N_VERSION = '1.123.81'

export interface N8nInstall {
  dir: string
  /** n8n's CLI entry; run with `node` directly so the pid we hold is n8n's own (not npm's or a shell's) */
  bin: string
  /** seconds spent installing; 0 when the cache was reused */
  installSeconds: number
}

const MARKER = '.afb-check-n8n.json'

interface Marker {
  version: string
  /** sqlite3 is a native module: a different Node ABI needs a rebuild */
  nodeAbi: string
}

export function installDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env['N8N_CHECK_INSTALL_DIR'] || path.join(os.tmpdir(), `afb-n8n-${N8N_VERSION}`))
}

function binOf(dir: string): string {
  return path.join(dir, 'node_modules', 'n8n', 'bin', 'n8n')
}

function readMarker(dir: string): Marker | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, MARKER), 'utf8')) as Marker
  } catch {
    return undefined
  }
}

/** Cheap proof that the install works: n8n answers with the right version and sqlite3's native binding loads. */
async function probe(dir: string): Promise<string | undefined> {
  if (!existsSync(binOf(dir))) return `${binOf(dir)} is missing`
  const version = await run(process.execPath, [binOf(dir), '--version'], { cwd: dir, timeoutMs: 60_000 })
  if (version.code !== 0 || !version.output.includes(N8N_VERSION)) return `n8n --version answered: ${tail(version.output, 5)}`
  const sqlite = await run(process.execPath, ['-e', "require('sqlite3')"], { cwd: dir, timeoutMs: 60_000 })
  if (sqlite.code !== 0) return `sqlite3 does not load: ${tail(sqlite.output, 5)}`
  return undefined
}

async function step(dir: string, label: string, command: string, args: string[], signal: AbortSignal | undefined): Promise<void> {
  console.log(`  ${label}: ${command} ${args.join(' ')}`)
  // a cold install on a loaded 2-CPU machine took over 15 minutes once
  const result = await run(command, args, { cwd: dir, timeoutMs: 30 * 60_000, signal })
  writeFileSync(path.join(dir, `afb-${label}.log`), result.output)
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.code}) in ${dir}:\n${tail(result.output)}`)
  console.log(`  ${label}: done in ${result.seconds.toFixed(0)} s`)
}

/** Reuses the cache when its marker matches and the probe passes; otherwise installs (≈5–8 min on 2 cores). */
export async function ensureN8n(dir = installDir(), signal?: AbortSignal): Promise<N8nInstall> {
  const started = Date.now()
  const marker = readMarker(dir)
  if (marker?.version === N8N_VERSION && marker.nodeAbi === process.versions.modules) {
    const problem = await probe(dir)
    if (!problem) return { dir, bin: binOf(dir), installSeconds: 0 }
    console.log(`n8n cache at ${dir} is broken (${problem}); reinstalling`)
  }
  console.log(`Installing n8n ${N8N_VERSION} into ${dir} (once; ≈5–8 min)`)
  mkdirSync(dir, { recursive: true })
  // the marker goes first, so an interrupted install is never taken for a good one
  rmSync(path.join(dir, MARKER), { force: true })
  const packageFile = path.join(dir, 'package.json')
  const pkg = existsSync(packageFile) ? (JSON.parse(readFileSync(packageFile, 'utf8')) as Record<string, unknown>) : { name: 'afb-n8n-cache', version: '0.0.0' }
  // n8n pins xlsx to a tarball URL on cdn.sheetjs.com; the registry's 0.18.5 installs everywhere
  const overrides = { ...((pkg['overrides'] as Record<string, unknown> | undefined) ?? {}), xlsx: '0.18.5' }
  writeFileSync(packageFile, `${JSON.stringify({ ...pkg, private: true, overrides }, null, 2)}\n`)
  // no marker: an earlier install may have been killed midway, leaving packages half-extracted that
  // npm install takes for installed (seen: n8n --version answered, a dist module was missing) and a
  // lock file npm then cannot read ("Invalid Version"): start from neither
  rmSync(path.join(dir, 'node_modules'), { recursive: true, force: true })
  rmSync(path.join(dir, 'package-lock.json'), { force: true })
  // --ignore-scripts: isolated-vm and friends would fail to build on Node 20; we run the legacy expression engine instead
  await step(dir, 'install', 'npm', ['install', `n8n@${N8N_VERSION}`, '--ignore-scripts', '--no-audit', '--no-fund'], signal)
  // n8n keeps its own database in sqlite3, whose native binding the skipped scripts would have built
  await step(dir, 'rebuild-sqlite3', 'npm', ['rebuild', 'sqlite3'], signal)
  const problem = await probe(dir)
  if (problem) throw new Error(`n8n installed into ${dir} but does not work: ${problem}`)
  const written: Marker = { version: N8N_VERSION, nodeAbi: process.versions.modules }
  writeFileSync(path.join(dir, MARKER), `${JSON.stringify(written)}\n`)
  return { dir, bin: binOf(dir), installSeconds: (Date.now() - started) / 1000 }
}
