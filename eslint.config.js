import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'src/web/ui/vendor/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly', performance: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // The CLI, benchmarks and tests talk to a terminal on purpose.
    files: ['src/cli/**', 'bench/**', 'bin/**', '**/*.test.ts', 'test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // FITS is a pure codec: the Archon family, the monitor's image index and the web all use it.
    files: ['src/fits/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../*'], message: 'fits/ is a pure codec: it imports nothing of labwire' }] }],
    },
  },
  {
    // Import rules of DESIGN.md §2.
    files: ['src/wire/**', 'src/links/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '!../wire/*', '!../links/*'], message: 'wire/ and links/ import nothing else of labwire' }] }],
    },
  },
  {
    // Their tests may use labwire/testing (src/testing/), which production code never imports.
    files: ['src/wire/**/*.test.ts', 'src/links/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '!../wire', '!../wire/*', '!../links', '!../links/*', '!../testing', '!../testing/*'], message: 'wire/ and links/ import nothing else of labwire (their tests: labwire/testing too)' }] }],
    },
  },
  {
    files: ['src/server/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '!../wire', '!../wire/*', '!../util', '!../util/*'], message: 'server/ is shared by every listener: it imports only wire/ and util/' }] }],
    },
  },
  {
    files: ['src/server/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '!../wire', '!../wire/*', '!../util', '!../util/*', '!../testing', '!../testing/*'], message: 'server/ imports only wire/ and util/ (its tests: labwire/testing too)' }] }],
    },
  },
  {
    files: ['src/devices/**'],
    ignores: ['src/devices/*.ts', 'src/devices/kits/**', '**/*.test.ts', '**/test-helpers/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/monitor/**', '**/web/**', '**/archive/**', '**/cli/**', '**/client/**'], message: 'devices import only wire/, links/ and the device API of daemon/' },
        // From src/devices/<family>/: `../<other family>/…` is another family; kits are shared.
        { regex: '^\\.\\./(?!kits/|\\.\\./)[^/]+/', message: 'a family never imports another family: what two families share belongs in a kit (src/devices/kits/)' },
      ] }],
    },
  },
  {
    files: ['src/devices/kits/**'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/monitor/**', '**/web/**', '**/archive/**', '**/cli/**', '**/client/**'], message: 'kits import only wire/, links/, other kits and the device API of daemon/' },
        // From src/devices/kits/<kit>/: `../../<family>/…` is a family; kits serve families, not the reverse.
        { regex: '^\\.\\./\\.\\./(?!\\.\\./)[^/]+/', message: 'a kit never imports a device family' },
      ] }],
    },
  },
  {
    files: ['src/daemon/**', 'src/monitor/**'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/devices/*/**'], message: 'daemon/ and monitor/ know no concrete device; use the registry' }] }],
    },
  },
);
