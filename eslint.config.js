// Flat config. The one architectural rule that matters most: plugins talk to core only through core/sdk.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', 'helm/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-throw-literal': 'error',
    },
  },
  {
    files: ['plugins/**/*.ts'],
    ignores: ['plugins/index.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          regex: '^(\\.\\./)+core/(?!sdk(/|$))',
          message: 'Plugins may import only core/sdk (docs/architecture.md §2–3).',
        }, {
          regex: '^(\\.\\./)+(migrations|tenants|test)/',
          message: 'Plugins may import only core/sdk (docs/architecture.md §2–3).',
        }],
      }],
    },
  },
  {
    // Core must not know the plugins: only the composition root lists them (DESIGN §2, docs/plugins.md).
    files: ['core/**/*.ts'],
    ignores: ['core/app.ts', 'core/main.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ regex: '^(\\.\\./)+plugins/', message: 'Only the composition root (core/app.ts) imports plugins/; the registry receives manifests.' }],
      }],
    },
  },
  {
    // Example plugin packages stand for a third party's code: the SDK by its package name and Node built-ins, nothing else.
    files: ['examples/**/*.js'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{
          regex: '^(?!@servicelane/sdk$|node:|\\./)',
          message: 'A plugin package imports only @servicelane/sdk and node: built-ins (docs/plugins.md, "Writing a plugin package").',
        }],
      }],
    },
  },
  {
    // The console's view layer renders API JSON straight into markup; the server owns and validates its shape.
    files: ['web/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-unused-expressions': 'off' },
  },
);
