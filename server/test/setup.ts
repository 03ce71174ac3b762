/**
 * Runs in every test file before its own code (vitest `setupFiles`): afterAll hooks run in reverse order of
 * registration, so this one runs last, after the file has stopped its servers and processes.
 */
import { afterAll } from 'vitest';
import { removeTempDirs } from './temp.ts';

afterAll(() => removeTempDirs());
