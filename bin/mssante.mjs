#!/usr/bin/env node
// Entry point of the `mssante` command. Runs the TypeScript sources through tsx's loader
// so that there is no build step between a change and a run.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
