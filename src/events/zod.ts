/**
 * zod for every schema of the project: its tree-shakable functional API (`zod/mini`: checks passed to
 * `.check()`, wrappers such as `z.optional(s)` and `z.pipe(s, z.transform(f))` instead of methods), with
 * the English messages that classic zod (`'zod'`) installs by itself and `zod/mini` does not: without
 * them every issue would read "Invalid input". Import zod from here, never from 'zod' or 'zod/mini'
 * (eslint refuses those imports elsewhere), so that the messages are configured before anything is parsed.
 *
 * Classic zod's methods build the same core schemas and checks as these functions, so the schemas accept,
 * reject and word everything as before. What classic adds is a generated fast path for objects, JSON
 * Schema output and a memoizer that only recursive schemas use (none of ours is): ~80% of zod's share of
 * a Lambda bundle (188 -> 34 KiB), which V8 had to compile at every cold start.
 */
import { config, locales } from 'zod/mini';

config(locales.en());

export * from 'zod/mini';
