"""Predictions (challenger, results, batches) and anomalies (monitors, runs, triage, learned rules), with RLS.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from aihub.db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

NEW_TABLES = [
    "prediction_batches", "prediction_results", "monitors", "monitor_runs", "anomalies", "anomaly_events",
    "feedback_rules",
]


def upgrade() -> None:
    op.create_table('monitors',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('dataset_id', sa.BigInteger(), nullable=True),
    sa.Column('config', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('state', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('enabled', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_monitors_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_monitors_dataset_id_datasets'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_monitors_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitors')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_monitors_tenant_id_name'))
    )
    op.create_index(op.f('ix_monitors_tenant_id'), 'monitors', ['tenant_id'], unique=False)
    op.create_table('feedback_rules',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('monitor_id', sa.BigInteger(), nullable=False),
    sa.Column('rule', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('undone_by', sa.BigInteger(), nullable=True),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['monitor_id'], ['monitors.id'], name=op.f('fk_feedback_rules_monitor_id_monitors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_feedback_rules_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['undone_by'], ['users.id'], name=op.f('fk_feedback_rules_undone_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_rules'))
    )
    op.create_index(op.f('ix_feedback_rules_monitor_id'), 'feedback_rules', ['monitor_id'], unique=False)
    op.create_index(op.f('ix_feedback_rules_tenant_id'), 'feedback_rules', ['tenant_id'], unique=False)
    op.create_table('monitor_runs',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('monitor_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('points_scored', sa.Integer(), server_default='0', nullable=False),
    sa.Column('anomalies_found', sa.Integer(), server_default='0', nullable=False),
    sa.Column('suppressed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['monitor_id'], ['monitors.id'], name=op.f('fk_monitor_runs_monitor_id_monitors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_monitor_runs_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_runs'))
    )
    op.create_index(op.f('ix_monitor_runs_monitor_id'), 'monitor_runs', ['monitor_id'], unique=False)
    op.create_index(op.f('ix_monitor_runs_tenant_id'), 'monitor_runs', ['tenant_id'], unique=False)
    op.create_table('prediction_batches',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('model_id', sa.BigInteger(), nullable=False),
    sa.Column('filename', sa.String(length=500), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_predicted', sa.Integer(), nullable=False),
    sa.Column('rows_failed', sa.Integer(), nullable=False),
    sa.Column('errors', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_prediction_batches_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_prediction_batches_model_id_models'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_prediction_batches_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction_batches'))
    )
    op.create_index(op.f('ix_prediction_batches_model_id'), 'prediction_batches', ['model_id'], unique=False)
    op.create_index(op.f('ix_prediction_batches_tenant_id'), 'prediction_batches', ['tenant_id'], unique=False)
    op.create_table('anomalies',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('monitor_id', sa.BigInteger(), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=True),
    sa.Column('metric', sa.String(length=200), nullable=False),
    sa.Column('slice', sa.String(length=300), server_default='', nullable=False),
    sa.Column('ts', sa.DateTime(), nullable=False),
    sa.Column('actual', sa.Float(), nullable=False),
    sa.Column('expected', sa.Float(), nullable=False),
    sa.Column('lower', sa.Float(), nullable=False),
    sa.Column('upper', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('impact', sa.Float(), nullable=True),
    sa.Column('impact_note', sa.Text(), server_default='', nullable=False),
    sa.Column('root_cause', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('snapshot', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='new', nullable=False),
    sa.Column('assignee_id', sa.BigInteger(), nullable=True),
    sa.Column('resolution_notes', sa.Text(), nullable=True),
    sa.Column('is_false_positive', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('false_positive_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_anomalies_assignee_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['monitor_id'], ['monitors.id'], name=op.f('fk_anomalies_monitor_id_monitors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['monitor_runs.id'], name=op.f('fk_anomalies_run_id_monitor_runs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_anomalies_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_anomalies')),
    sa.UniqueConstraint('monitor_id', 'metric', 'slice', 'ts', name=op.f('uq_anomalies_monitor_id_metric_slice_ts'))
    )
    op.create_index(op.f('ix_anomalies_tenant_id'), 'anomalies', ['tenant_id'], unique=False)
    op.create_index('ix_anomalies_tenant_status_severity', 'anomalies', ['tenant_id', 'status', 'severity'], unique=False)
    op.create_index('ix_anomalies_tenant_ts', 'anomalies', ['tenant_id', 'ts'], unique=False)
    op.create_table('prediction_results',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('model_id', sa.BigInteger(), nullable=False),
    sa.Column('model_version_id', sa.BigInteger(), nullable=False),
    sa.Column('served_by', sa.String(length=12), nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=True),
    sa.Column('row_number', sa.Integer(), nullable=True),
    sa.Column('input', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('input_hash', sa.String(length=64), nullable=False),
    sa.Column('output', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('prediction', sa.Text(), nullable=False),
    sa.Column('probability', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('cache_hit', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('requested_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actual', sa.Text(), nullable=True),
    sa.Column('actual_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('feedback_by', sa.BigInteger(), nullable=True),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['prediction_batches.id'], name=op.f('fk_prediction_results_batch_id_prediction_batches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['feedback_by'], ['users.id'], name=op.f('fk_prediction_results_feedback_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_prediction_results_model_id_models'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_prediction_results_model_version_id_model_versions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_prediction_results_requested_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_prediction_results_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction_results'))
    )
    op.create_index(op.f('ix_prediction_results_batch_id'), 'prediction_results', ['batch_id'], unique=False)
    op.create_index(op.f('ix_prediction_results_tenant_id'), 'prediction_results', ['tenant_id'], unique=False)
    op.create_index('ix_prediction_results_tenant_model_created', 'prediction_results', ['tenant_id', 'model_id', 'created_at'], unique=False)
    op.create_index('ix_prediction_results_version_input_hash', 'prediction_results', ['model_version_id', 'input_hash'], unique=False)
    op.create_table('anomaly_events',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('anomaly_id', sa.BigInteger(), nullable=False),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_anomaly_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['anomaly_id'], ['anomalies.id'], name=op.f('fk_anomaly_events_anomaly_id_anomalies'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_anomaly_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_anomaly_events'))
    )
    op.create_index(op.f('ix_anomaly_events_anomaly_id'), 'anomaly_events', ['anomaly_id'], unique=False)
    op.create_index(op.f('ix_anomaly_events_tenant_id'), 'anomaly_events', ['tenant_id'], unique=False)
    op.add_column('model_versions', sa.Column('feature_schema', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False))
    op.add_column('model_versions', sa.Column('config', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False))
    op.add_column('models', sa.Column('challenger_version_id', sa.BigInteger(), nullable=True))
    op.add_column('models', sa.Column('challenger_share', sa.Float(), server_default='0', nullable=False))
    op.create_foreign_key(op.f('fk_models_challenger_version_id_model_versions'), 'models', 'model_versions', ['challenger_version_id'], ['id'], ondelete='SET NULL', use_alter=True)
    for table in NEW_TABLES:
        for stmt in enable_tenant_rls(table):
            op.execute(stmt)


def downgrade() -> None:
    for table in NEW_TABLES:
        for stmt in disable_tenant_rls(table):
            op.execute(stmt)
    op.drop_constraint(op.f('fk_models_challenger_version_id_model_versions'), 'models', type_='foreignkey')
    op.drop_column('models', 'challenger_share')
    op.drop_column('models', 'challenger_version_id')
    op.drop_column('model_versions', 'config')
    op.drop_column('model_versions', 'feature_schema')
    op.drop_index(op.f('ix_anomaly_events_tenant_id'), table_name='anomaly_events')
    op.drop_index(op.f('ix_anomaly_events_anomaly_id'), table_name='anomaly_events')
    op.drop_table('anomaly_events')
    op.drop_index('ix_prediction_results_version_input_hash', table_name='prediction_results')
    op.drop_index('ix_prediction_results_tenant_model_created', table_name='prediction_results')
    op.drop_index(op.f('ix_prediction_results_tenant_id'), table_name='prediction_results')
    op.drop_index(op.f('ix_prediction_results_batch_id'), table_name='prediction_results')
    op.drop_table('prediction_results')
    op.drop_index('ix_anomalies_tenant_ts', table_name='anomalies')
    op.drop_index('ix_anomalies_tenant_status_severity', table_name='anomalies')
    op.drop_index(op.f('ix_anomalies_tenant_id'), table_name='anomalies')
    op.drop_table('anomalies')
    op.drop_index(op.f('ix_prediction_batches_tenant_id'), table_name='prediction_batches')
    op.drop_index(op.f('ix_prediction_batches_model_id'), table_name='prediction_batches')
    op.drop_table('prediction_batches')
    op.drop_index(op.f('ix_monitor_runs_tenant_id'), table_name='monitor_runs')
    op.drop_index(op.f('ix_monitor_runs_monitor_id'), table_name='monitor_runs')
    op.drop_table('monitor_runs')
    op.drop_index(op.f('ix_feedback_rules_tenant_id'), table_name='feedback_rules')
    op.drop_index(op.f('ix_feedback_rules_monitor_id'), table_name='feedback_rules')
    op.drop_table('feedback_rules')
    op.drop_index(op.f('ix_monitors_tenant_id'), table_name='monitors')
    op.drop_table('monitors')
