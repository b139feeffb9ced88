// The client for `just bench upload`: one tus-js-client upload of a file to a tus endpoint,
// the same script against @tus/server and Framelog's /v1/tus/.
//   node upload.mjs <endpoint> <file> <chunk bytes> [bearer key]
// Prints one JSON line: {"ms": <elapsed from start() to onSuccess>, "url": <upload URL>,
// "bytes": <size>}. onSuccess fires after the server answered the last PATCH (for Framelog,
// after the upload is completed: hashed and probed).
import { createReadStream, statSync } from 'node:fs'
import { basename } from 'node:path'
import { Upload } from 'tus-js-client'

const [endpoint, file, chunk, key] = process.argv.slice(2)
if (!endpoint || !file || !chunk) {
  console.error('usage: node upload.mjs <endpoint> <file> <chunk bytes> [bearer key]')
  process.exit(2)
}
const size = statSync(file).size
const headers = key ? { Authorization: `Bearer ${key}` } : {}
const started = process.hrtime.bigint()
const upload = new Upload(createReadStream(file), {
  endpoint,
  chunkSize: Number(chunk),
  headers,
  metadata: { filename: basename(file), filetype: 'video/mp4' },
  retryDelays: null,
  storeFingerprintForResuming: false,
  onError(err) {
    console.error(`upload failed: ${err}`)
    process.exit(1)
  },
  onSuccess() {
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    console.log(JSON.stringify({ ms, url: upload.url, bytes: size }))
  },
})
upload.start()
