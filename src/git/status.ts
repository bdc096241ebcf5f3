/** The parts of `git status --porcelain=v1 -z` a preview reports. */
export interface WorkTreeStatus {
  staged: string[]
  unstaged: string[]
  untracked: string[]
}

/** Parses NUL-separated porcelain v1 (rename entries carry their source path as an extra field). */
export function parsePorcelain(output: string): WorkTreeStatus {
  const status: WorkTreeStatus = { staged: [], unstaged: [], untracked: [] }
  const fields = output.split('\0')
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]
    if (!field || field.length < 4) continue
    const x = field[0]
    const y = field[1]
    const path = field.slice(3)
    if (x === '?' && y === '?') {
      status.untracked.push(path)
      continue
    }
    if (x === '!') continue
    if (x && x !== ' ') status.staged.push(path)
    if (y && y !== ' ') status.unstaged.push(path)
    if (x === 'R' || x === 'C') i++ // skip the rename/copy source
  }
  return status
}

/** What one `git status --porcelain=v2 -z --branch` tells: the work tree's changes, the branch HEAD is on, unresolved conflicts. */
export interface StatusReport {
  status: WorkTreeStatus
  /** the ref HEAD points at (refs/heads/…), or null when HEAD is detached */
  headRef: string | null
  /** the commit HEAD was at when status looked, or null when its branch has none yet */
  headOid: string | null
  /** the index holds unmerged entries (a merge, rebase or cherry-pick stopped on a conflict) */
  unmerged: boolean
}

/**
 * Parses NUL-separated porcelain v2 with its `# branch.*` headers into the same lists as
 * parsePorcelain (a rename's source path is skipped; an unmerged path is both staged and unstaged).
 */
export function parsePorcelainV2(output: string): StatusReport {
  const report: StatusReport = { status: { staged: [], unstaged: [], untracked: [] }, headRef: null, headOid: null, unmerged: false }
  // the fields before the path: "1 XY sub mH mI mW hH hI", "2 … Xscore", "u XY sub m1 m2 m3 mW h1 h2 h3"
  const pathAfter = (field: string, spaces: number) => {
    let at = -1
    for (let n = 0; n < spaces; n++) at = field.indexOf(' ', at + 1)
    return field.slice(at + 1)
  }
  const tracked: Array<{ path: string; staged: boolean; unstaged: boolean }> = []
  const fields = output.split('\0')
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]
    if (!field) continue
    if (field.startsWith('# branch.oid ')) {
      const oid = field.slice('# branch.oid '.length)
      report.headOid = oid === '(initial)' ? null : oid
      continue
    }
    if (field.startsWith('# branch.head ')) {
      const name = field.slice('# branch.head '.length)
      report.headRef = name === '(detached)' ? null : `refs/heads/${name}`
      continue
    }
    const kind = field[0]
    if (kind === '?') {
      report.status.untracked.push(field.slice(2))
      continue
    }
    if (kind !== '1' && kind !== '2' && kind !== 'u') continue // headers, ignored files
    const x = field[2]
    const y = field[3]
    const path = pathAfter(field, kind === '1' ? 8 : kind === '2' ? 9 : 10)
    if (kind === 'u') report.unmerged = true
    tracked.push({ path, staged: !!x && x !== '.', unstaged: !!y && y !== '.' })
    if (kind === '2') i++ // skip the rename/copy source
  }
  // v2 lists unmerged paths after the others; v1 (and so the preview) lists all in path order, byte by byte
  const bytes = (p: string) => Buffer.from(p, 'utf8')
  tracked.sort((a, b) => Buffer.compare(bytes(a.path), bytes(b.path)))
  report.status.staged.push(...tracked.filter((e) => e.staged).map((e) => e.path))
  report.status.unstaged.push(...tracked.filter((e) => e.unstaged).map((e) => e.path))
  return report
}
