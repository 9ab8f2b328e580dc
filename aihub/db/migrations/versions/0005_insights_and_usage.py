"""Insights with their status history and usefulness votes, and AI feature usage events, with RLS.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from aihub.db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

NEW_TABLES = ["insights", "insight_events", "usage_events"]


def upgrade() -> None:
    op.create_table('insights',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('priority', sa.String(length=10), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('narrative', sa.Text(), nullable=False),
    sa.Column('recommended_actions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('evidence', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('figures', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.Text(), server_default='', nullable=False),
    sa.Column('period', sa.String(length=100), server_default='', nullable=False),
    sa.Column('direction', sa.String(length=12), server_default='neutral', nullable=False),
    sa.Column('magnitude', sa.Float(), nullable=True),
    sa.Column('currency', sa.String(length=8), nullable=True),
    sa.Column('method', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.String(length=20), server_default='new', nullable=False),
    sa.Column('dismiss_reason', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_insights_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_insights_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insights')),
    sa.UniqueConstraint('tenant_id', 'fingerprint', name=op.f('uq_insights_tenant_id_fingerprint'))
    )
    op.create_index(op.f('ix_insights_tenant_id'), 'insights', ['tenant_id'], unique=False)
    op.create_index('ix_insights_tenant_status_score', 'insights', ['tenant_id', 'status', 'score'], unique=False)
    op.create_table('usage_events',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=True),
    sa.Column('feature', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_usage_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_usage_events_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_events'))
    )
    op.create_index('ix_usage_events_tenant_created', 'usage_events', ['tenant_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_usage_events_tenant_id'), 'usage_events', ['tenant_id'], unique=False)
    op.create_table('insight_events',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('insight_id', sa.BigInteger(), nullable=False),
    sa.Column('insight_type', sa.String(length=40), nullable=False),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('useful', sa.Boolean(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_insight_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['insight_id'], ['insights.id'], name=op.f('fk_insight_events_insight_id_insights'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_insight_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insight_events'))
    )
    op.create_index(op.f('ix_insight_events_insight_id'), 'insight_events', ['insight_id'], unique=False)
    op.create_index(op.f('ix_insight_events_tenant_id'), 'insight_events', ['tenant_id'], unique=False)
    for table in NEW_TABLES:
        for stmt in enable_tenant_rls(table):
            op.execute(stmt)


def downgrade() -> None:
    for table in NEW_TABLES:
        for stmt in disable_tenant_rls(table):
            op.execute(stmt)
    op.drop_index(op.f('ix_insight_events_tenant_id'), table_name='insight_events')
    op.drop_index(op.f('ix_insight_events_insight_id'), table_name='insight_events')
    op.drop_table('insight_events')
    op.drop_index(op.f('ix_usage_events_tenant_id'), table_name='usage_events')
    op.drop_index('ix_usage_events_tenant_created', table_name='usage_events')
    op.drop_table('usage_events')
    op.drop_index('ix_insights_tenant_status_score', table_name='insights')
    op.drop_index(op.f('ix_insights_tenant_id'), table_name='insights')
    op.drop_table('insights')
